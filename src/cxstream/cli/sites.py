"""``cxstream sites``: variance across locations from the metric history on the cluster: each metric's funnel of
the locations on a closed day with the execution gaps, one location's control chart with the Nelson rules, and
the noise budget (how many gaps pure noise would raise a day)."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, cluster, context, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("sites", help="variance across locations: funnel plots, control charts, execution gaps")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    f = actions.add_parser("funnel", help="each metric's funnel of the locations on a closed day, and the gaps")
    f.add_argument("--metric", default=None, help="one of locations.variance.metrics (default: all)")
    f.add_argument("--day", default=None, help="a closed day, YYYY-MM-DD (default: the last final one)")
    f.add_argument("--json", action="store_true")
    c = actions.add_parser("chart", help="one location's control chart with the Nelson rules that fire")
    c.add_argument("site")
    c.add_argument("--metric", default=None)
    c.add_argument("--day", default=None, help="the chart's last day (default: the last final one)")
    c.add_argument("--days", type=int, default=None, help="days on the chart (default locations.variance.chart_days)")
    c.add_argument("--json", action="store_true")
    n = actions.add_parser("noise", help="comparisons a day and the execution gaps pure noise would raise")
    n.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_sites)


def _day(text: str | None, grace_ms: int) -> int:
    from cxstream.domain.base import now_ms
    from cxstream.domain.locations.gaps import day_to_review

    if not text:
        return day_to_review(now_ms(), grace_ms)
    day = date.fromisoformat(text)
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def cmd_sites(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.locations.spc import RULES
    from cxstream.domain.locations.variance import noise_budget, rule_false_alarm_rate

    if args.action == "noise":
        ctx = context(settings)
        spec = ctx.topology.locations
        if spec is None:
            return fail("no locations section in the topology (topologies/locations.yaml)", EXIT_CONFIG)
        per_day = len(spec.sites) * len(spec.variance.metrics)
        rate = rule_false_alarm_rate(tuple(spec.variance.rules))
        row = {"locations": len(spec.sites), "metrics": len(spec.variance.metrics), "comparisons_per_day": per_day,
               "funnel_tail": (1 - spec.variance.alarm) / 2, "rules": spec.variance.rules,
               "rule_rate_per_point": round(rate, 5),
               "expected_false_gaps_per_day": round(noise_budget(per_day, spec), 3),
               "per_1000_location_days": round(1000 * noise_budget(1, spec), 2)}  # fmt: skip
        if args.json:
            print(json.dumps(row))
            return EXIT_OK
        print(f"{row['locations']} locations x {row['metrics']} metrics = {per_day} comparisons a day")
        print(f"  funnel: beyond the {100 * spec.variance.alarm:g} % limit on the bad side: {row['funnel_tail']:.4f} "
              "of location-days under no difference")  # fmt: skip
        print(f"  control charts: rules {', '.join(str(r) for r in spec.variance.rules)} fire on {rate:.4f} of "
              "in-control days on the bad side (simulated, 40,000 days)")  # fmt: skip
        print(f"  pure noise raises about {row['expected_false_gaps_per_day']} execution gaps a day "
              f"({row['per_1000_location_days']} per 1,000 location-days)")  # fmt: skip
        return EXIT_OK
    reached = cluster(settings, "sites")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    spec = ctx.topology.locations
    if spec is None:
        return fail("no locations section in the topology (topologies/locations.yaml)", EXIT_CONFIG)
    from cxstream.domain.catalog import Topics
    from cxstream.kafka.history import read_history

    metric = args.metric or (None if args.action == "funnel" else spec.variance.metrics[0])
    if metric is not None and metric not in spec.variance.metrics:
        return fail(f"--metric must be one of {', '.join(spec.variance.metrics)}", EXIT_CONFIG)
    try:
        day = _day(args.day, ctx.topology.metrics.grace_ms)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    index, _ = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
    names = {s.id: s.name for s in ctx.topology.reference.sites}
    if args.action == "chart":
        return _chart(ctx, spec, index, args.site, str(metric), day, args.days, names, args.json, RULES)
    return _funnel(ctx, spec, index, metric, day, names, args.json)


def _funnel(ctx: Any, spec: Any, index: Any, metric: str | None, day: int, names: dict[str, str],
            as_json: bool) -> int:  # fmt: skip
    from cxstream.domain.locations.spec import Locations
    from cxstream.domain.locations.variance import review_day

    chosen = spec if metric is None else Locations(sites=spec.sites, variance=spec.variance.model_copy(
        update={"metrics": [metric]}))  # fmt: skip
    review = review_day(ctx.topology.metrics, index, chosen, day, names)
    when = datetime.fromtimestamp(day / 1000, UTC).date().isoformat()
    if as_json:
        print(json.dumps({
            "day": when, "comparisons": review.comparisons, "expected_noise": round(review.expected_noise, 3),
            "funnels": [{"metric": f.metric, "target": None if f.funnel is None else f.funnel.target,
                         "tau": None if f.funnel is None else f.funnel.tau2**0.5,
                         "sites": [{"site": r.site, "value": r.value, "n": r.n, "low": r.low, "high": r.high,
                                    "band": None if r.point is None else r.point.band,
                                    "z": None if r.point is None else r.point.z_adjusted} for r in f.sites]}
                        for f in review.funnels],
            "gaps": [{"site": g.site, "metric": g.metric, "rules": list(g.rules), "summary": g.summary}
                     for g in review.gaps],
        }, indent=2))  # fmt: skip
        return EXIT_OK
    print(f"locations on {when}: {review.comparisons} comparisons, pure noise would raise about "
          f"{review.expected_noise:.2f} gaps")  # fmt: skip
    for f in review.funnels:
        target = "-" if f.funnel is None else f"{100 * f.funnel.target:.1f}"
        tau = "" if f.funnel is None or not f.funnel.tau2 else f", over-dispersion tau {100 * f.funnel.tau2**0.5:.1f}"
        print(f"{f.label}: all {target}{tau}")
        for r in f.sites:
            if r.value is None:
                print(f"  {names.get(r.site, r.site):32} insufficient sample (n={r.n})")
                continue
            band = r.point.band if r.point is not None else "-"
            print(f"  {names.get(r.site, r.site):32} {100 * r.value:6.1f}  n={r.n:<6} 95% CI {100 * (r.low or 0):.1f}-"
                  f"{100 * (r.high or 0):.1f}  {band}")  # fmt: skip
    for g in review.gaps:
        print(f"GAP {g.summary}")
    return EXIT_OK if not review.gaps else EXIT_FAILED


def _chart(ctx: Any, spec: Any, index: Any, site: str, metric: str, day: int, days: int | None,
           names: dict[str, str], as_json: bool, rules: dict[int, str]) -> int:  # fmt: skip
    from cxstream.domain.locations.variance import site_chart, site_days
    from cxstream.domain.metrics.spec import DAY_MS

    if spec.location(site) is None:
        return fail(f"no location {site!r} (cxstream sites funnel lists them)", EXIT_CONFIG)
    count = days or spec.variance.chart_days
    starts = [day - (count - 1 - i) * DAY_MS for i in range(count)]
    definition = ctx.topology.metrics.definition(metric)
    chart = site_chart(definition, site_days(index, metric, starts[0], day + DAY_MS).get(site, {}), starts)
    rows: list[dict[str, Any]] = [
        {"day": datetime.fromtimestamp(at / 1000, UTC).date().isoformat(), "share": p.share, "n": p.n,
         "lcl": None if p.limits is None else p.limits.lcl, "ucl": None if p.limits is None else p.limits.ucl,
         "rules": sorted(f.rule for f in chart.firings if f.at == i)}
        for i, (at, p) in enumerate(zip(starts, chart.points, strict=True))
    ]  # fmt: skip
    if as_json:
        print(json.dumps({"site": site, "metric": metric, "centre": chart.centre, "sigma_z": chart.sigma_z,
                          "days": rows}, indent=2))  # fmt: skip
        return EXIT_OK
    centre = "-" if chart.centre is None else f"{100 * chart.centre:.1f}"
    print(f"{names.get(site, site)}: {definition.title} per day, centre {centre}"
          + (f", limits widened x{chart.sigma_z:.2f} (Laney p')" if chart.sigma_z > 1 else ""))  # fmt: skip
    for row in rows:
        if row["share"] is None:
            print(f"  {row['day']}  -")
            continue
        fired = "  " + "; ".join(f"rule {r} ({rules[r]})" for r in row["rules"]) if row["rules"] else ""
        print(f"  {row['day']}  {100 * row['share']:6.1f}  n={row['n']:<6} limits {100 * (row['lcl'] or 0):.1f}-"
              f"{100 * (row['ucl'] or 0):.1f}{fired}")  # fmt: skip
    return EXIT_OK
