"""``cxstream alerts budget`` and ``alerts simulate``: what the threshold rules' sequential tests cost in
false breaches, and how fast they see a shift, from the topology and the worker's own test code."""

from __future__ import annotations

import argparse
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, context, fail
from cxstream.settings import Settings


def _traffic(args: argparse.Namespace) -> Any:
    from cxstream.domain.alerting.simulate import Traffic

    return Traffic(args.per_5m, fixed_volume=getattr(args, "fixed_volume", False), passives=args.passives,
                   sd=args.sd, sigma=args.sigma)  # fmt: skip


def _scope(items: list[str]) -> dict[str, str]:
    scope: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{item!r} is not a scope such as region=emea")
        scope[name] = value
    return scope


def cmd_budget(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.alerting.simulate import cost
    from cxstream.domain.alerting.thresholds import Method

    ctx = context(settings)
    metrics, rules = ctx.topology.metrics, ctx.topology.alerting.thresholds
    traffic = _traffic(args)
    observed: dict[str, float] = {}
    if args.observed is not None:
        url = args.observed or f"{settings.local_url}/metrics"
        try:
            observed = _observed(url)
        except (OSError, ValueError) as exc:
            return fail(f"no worker metrics at {url}: {exc}", EXIT_FAILED)
    print(f"false breaches when every scope sits `no_change` on the good side of its first level, and the time "
          f"to see a process at the level, at {args.per_5m:g} answers per 5 minutes per scope "
          f"(Siegmund's approximation; check one with `cxstream alerts simulate`)")  # fmt: skip
    extra = "  observed volumes: per 30 d" if observed else ""
    print(f"{'rule':24} {'method':7} {'no change':>9} {'h':>5} {'scopes':>6} {'budget (any volume)':>22} "
          f"{'expected per 30 d':>17} {'mean delay':>10}{extra}")  # fmt: skip
    total = 0.0
    for rule in rules:
        if rule.method is not Method.CUSUM:
            print(f"{rule.id:24} {'window':7} (no declared false-alarm rate: see docs/alerting.md)")
            continue
        indicator = metrics.definition(rule.metric).indicator
        test = rule.test_for({}, indicator)
        c = cost(test, traffic)
        scopes = rule.budget.scopes
        expected = 30 * c.per_day * scopes
        total += expected
        budget = f"{30 * c.worst_per_day * scopes:.2f} per 30 d"
        print(f"{rule.id:24} {'cusum':7} {test.distance:>9g} {c.h:>5.2f} {scopes:>6} {budget:>22} "
              f"{expected:>17.3f} {_minutes(c.detect_minutes):>10}"
              + (f"  {30 * observed[rule.id]:.3f}" if rule.id in observed else ""))  # fmt: skip
    print(f"all cusum rules: {total:.2f} false breaches expected per 30 days ({total / 30:.3f} per day) at this volume")
    return EXIT_OK


def _observed(url: str) -> dict[str, float]:
    """Per rule, the false breaches a day a worker expects at the volumes it sees (its /metrics)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "cxstream_expected_false_breaches_per_day":
            for sample in family.samples:
                out[sample.labels["rule"]] = sample.value
    return out


def _minutes(value: float | None) -> str:
    if value is None:
        return "never"
    if value < 120:
        return f"{value:.0f} min"
    return f"{value / 60:.1f} h" if value < 48 * 60 else f"{value / 1440:.1f} d"


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from scipy import stats

    from cxstream.domain.alerting.simulate import BUCKETS_PER_DAY, cost, delays, no_change
    from cxstream.domain.alerting.thresholds import Method

    ctx = context(settings)
    rule = next((r for r in ctx.topology.alerting.thresholds if r.id == args.rule), None)
    if rule is None:
        known = ", ".join(r.id for r in ctx.topology.alerting.thresholds)
        return fail(f"no threshold rule {args.rule!r} (known: {known})", EXIT_CONFIG)
    if rule.method is not Method.CUSUM:
        return fail(f"{rule.id} uses method: window; only cusum rules are simulated", EXIT_CONFIG)
    try:
        scope = _scope(args.scope)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    indicator = ctx.topology.metrics.definition(rule.metric).indicator
    test = rule.test_for(scope, indicator)
    first = test.levels[min(test.levels, key=lambda s: s.rank)]
    truth = args.truth if args.truth is not None else first.good
    shifted = args.shift_to if args.shift_to is not None else first.bad
    before = args.shift_from if args.shift_from is not None else truth
    traffic = _traffic(args)
    buckets = int(args.days * BUCKETS_PER_DAY)
    where = ", ".join(f"{k}={v}" for k, v in scope.items()) or "any scope"
    levels = ", ".join(f"{s.value.lower()} {h.bad:g}" for s, h in test.levels.items())
    print(f"{rule.id} ({rule.metric}, {where}): levels {levels}; "
          f"no change {test.distance:g}; threshold h {test.h:.2f} from {rule.budget.describe()}")  # fmt: skip
    pool = ctx.topology.metrics.window(rule.window).size_ms // 300_000  # the variance of means: the rule's window
    try:
        quiet = no_change(test, truth, traffic, buckets=buckets, seed=args.seed, pool=pool)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    low, high = _poisson_interval(quiet.breaches, stats)
    per_day = BUCKETS_PER_DAY / quiet.buckets
    print(f"no change at {truth:g}, {args.per_5m:g} answers per 5 min, {quiet.buckets:,} buckets ({args.days:g} days):")
    print(f"  false breaches {quiet.breaches} = {quiet.per_1000:.3f} per 1,000 buckets, {quiet.per_day:.4f} per day "
          f"(95% CI {low * per_day:.4f} to {high * per_day:.4f}), {quiet.per_30_days:.2f} per 30 days; "
          f"in a breach {100 * quiet.breached_buckets / quiet.buckets:.2f}% of the time")  # fmt: skip
    predicted = cost(test, traffic)
    print(f"  Siegmund's approximation at this volume: {30 * predicted.per_day:.2f} per 30 days "
          f"(the budget, at any volume: at most {30 * predicted.worst_per_day:.2f})")  # fmt: skip
    found = delays(test, before, shifted, traffic, runs=args.runs, horizon=int(args.horizon_days * BUCKETS_PER_DAY),
                   seed=args.seed + 1, pool=pool)  # fmt: skip
    n = len(found.buckets)
    print(f"shift from {before:g} to {shifted:g} after a day at {before:g}: {n} runs, {found.detected} detected within "
          f"{args.horizon_days:g} days")  # fmt: skip
    if n:
        lo_rank, hi_rank = _median_ranks(n, stats)
        ranked = sorted(b if b is not None else float("inf") for b in found.buckets)

        def at(rank: int) -> str:
            value = ranked[rank - 1]
            return "beyond the horizon" if value == float("inf") else _minutes(5.0 * value)

        p90 = found.quantile_minutes(0.9)
        print(f"  delay to the first breach: median {_minutes(found.median_minutes)} (95% CI {at(lo_rank)} to "
              f"{at(hi_rank)}), 90th percentile {_minutes(p90) if p90 is not None else 'beyond the horizon'}; "
              f"Siegmund's mean at the level from a clean start: {_minutes(predicted.detect_minutes)}")  # fmt: skip
    return EXIT_OK


def _poisson_interval(count: int, stats: Any) -> tuple[float, float]:
    """Exact (Garwood) 95% interval of a Poisson count."""
    low = 0.0 if count == 0 else float(stats.chi2.ppf(0.025, 2 * count) / 2)
    return low, float(stats.chi2.ppf(0.975, 2 * count + 2) / 2)


def _median_ranks(n: int, stats: Any) -> tuple[int, int]:
    """Order statistics that bracket the median with at least 95% confidence (distribution-free)."""
    low = max(1, int(stats.binom.ppf(0.025, n, 0.5)))
    high = min(n, int(stats.binom.isf(0.025, n, 0.5)) + 1)
    return low, high


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("alerts", help="what the threshold rules cost: false-alarm budget, simulated delays")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("budget", "expected false breaches of every cusum rule, per 30 days"),
                       ("simulate", "false breaches and detection delay of one rule, simulated")):  # fmt: skip
        a = actions.add_parser(name, help=text)
        if name == "simulate":
            a.add_argument("rule", help="threshold rule id, e.g. csat.delivery.low")
            a.add_argument("--scope", nargs="*", default=[], help="the scope's labels, e.g. region=apac (overrides)")
            a.add_argument(
                "--truth",
                type=float,
                default=None,
                help="the true value under no change (default: no_change on the good side)",
            )
            a.add_argument(
                "--shift-from", type=float, default=None, help="the value before the shift (default --truth)"
            )
            a.add_argument(
                "--shift-to", type=float, default=None, help="the value after the shift (default: the level)"
            )
            a.add_argument("--days", type=float, default=90.0, help="simulated days of no change (default 90)")
            a.add_argument("--runs", type=int, default=200, help="shift runs for the delay (default 200)")
            a.add_argument("--horizon-days", type=float, default=14.0, help="give up a shift run after (default 14)")
            a.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
            a.add_argument("--fixed-volume", action="store_true", help="exactly --per-5m answers in every bucket")
        else:
            a.add_argument(
                "--observed",
                nargs="?",
                const="",
                default=None,
                metavar="URL",
                help="add what a running worker expects at the volumes it sees (its /metrics URL; "
                "default the local worker)",
            )
        a.add_argument("--per-5m", type=float, default=20.0, help="answers per 5 minutes per scope (default 20)")
        a.add_argument("--passives", type=float, default=0.3, help="NPS: share of passives (default 0.3)")
        a.add_argument("--sd", type=float, default=1.5, help="CES: spread of answers on 1-7 (default 1.5)")
        a.add_argument("--sigma", type=float, default=1.0, help="durations: log-scale spread (default 1.0)")
        a.set_defaults(handler=cmd_budget if name == "budget" else cmd_simulate)
