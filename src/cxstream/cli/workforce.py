"""``cxstream staffing erlang`` (the planners' what-if calculator: Erlang C, or Erlang A with ``--patience``),
``cxstream staffing plan`` and ``cxstream forecast`` (each declared queue's forecast and the agents it needs,
from the metric history on the cluster), and ``cxstream staffing floor`` (the agents on each queue's floor now
against the forecast, and the open staffing gaps, from a worker's API)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_OK, fail
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.workforce.erlang import Demand, ServiceTarget, Staffing, figures, required
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("staffing", help="agents needed per queue and interval (Erlang C / Erlang A)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = actions.add_parser(
        "erlang",
        help="what-if: agents for a volume, e.g. erlang --contacts 100 --interval 30m --aht 180s",
        description="Agents needed to answer --target of --contacts within --answer-within, and the queue's "
        "figures at that staffing (or at --agents). Erlang C; --patience switches to Erlang A (abandonment).",
    )
    e.add_argument("--contacts", type=float, required=True, help="contacts arriving in the interval")
    e.add_argument("--interval", default="30m", help="the interval's length (default 30m)")
    e.add_argument("--aht", required=True, help="average handle time, e.g. 180s or 6m30s")
    e.add_argument("--answer-within", default="20s", help="service-level time (default 20s)")
    e.add_argument("--target", type=float, default=0.8, help="share answered within it (default 0.8)")
    e.add_argument("--shrinkage", type=float, default=0.0, help="share of paid time off the queue (default 0)")
    e.add_argument("--max-occupancy", type=float, default=1.0, help="cap on agents' busy share (default 1)")
    e.add_argument("--patience", default=None, help="mean patience before abandoning (Erlang A), e.g. 5m")
    e.add_argument("--agents", type=int, default=None, help="the figures with this many agents instead")
    e.add_argument("--json", action="store_true", help="print JSON")
    for name, text in (("plan", "agents and positions needed per interval for each queue, from the forecast"),):
        s = actions.add_parser(name, help=text)
        _plan_arguments(s)
    q = actions.add_parser(
        "quality",
        help="the cost of quality: CSAT against handle time of complex contacts, and what more time costs in staff",
        description="From cx.events (the last 28 days of tickets) and the metric history on the cluster: CSAT per "
        "handle-time fifth and the fitted curve for the declared tiers (an association), and per allowed handle time "
        "the agents the busiest interval needs and the extra cost a month.",
    )
    q.add_argument("--queue", required=True, help="a queue id (topologies/workforce.yaml)")
    q.add_argument("--json", action="store_true", help="print the API's JSON (GET /api/workforce/QUEUE/quality)")
    f = actions.add_parser(
        "floor",
        help="the agents on each queue's floor now against the forecast, and the open staffing gaps",
        description="Reads GET /api/workforce from a worker: per queue the agents with a staffed status, the agents "
        "the running interval needs, the lowest service level the floor gives over the look-ahead (with its range "
        "over the forecast's prediction interval) and the open staffing gap.",
    )
    f.add_argument("--url", default=None, help="a worker's address (default: CXSTREAM_WEB_URL or this worker's)")
    f.add_argument("--token", default=None, help="API token (default: the CXSTREAM_TOKEN environment variable)")
    f.add_argument("--json", action="store_true", help="print the API's JSON")
    p.set_defaults(handler=cmd_staffing)
    p = sub.add_parser("forecast", help="contacts and workload per queue and interval for the days ahead, with "
                       "the prediction interval and its accuracy on past days")  # fmt: skip
    _plan_arguments(p)
    p.set_defaults(handler=cmd_forecast)


def _plan_arguments(p: Any) -> None:
    p.add_argument("--queue", action="append", default=[], help="a queue id (topologies/workforce.yaml); all if absent")
    p.add_argument("--day", default=None, help="first day, e.g. 2026-12-07 (default today, UTC)")
    p.add_argument("--days", type=int, default=1, help="days to cover (default 1)")
    p.add_argument("--json", action="store_true", help="print the API's JSON (GET /api/workforce/QUEUE)")


def cmd_staffing(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "plan":
        return _plans(settings, args, staffing=True)
    if args.action == "floor":
        return _floor(settings, args)
    if args.action == "quality":
        return _quality(settings, args)
    try:
        demand = Demand(
            contacts=args.contacts,
            interval_s=parse_duration_ms(args.interval) / 1000,
            handle_s=parse_duration_ms(args.aht) / 1000,
            patience_s=parse_duration_ms(args.patience) / 1000 if args.patience else None,
        )
        target = ServiceTarget(
            answer_within_s=parse_duration_ms(args.answer_within) / 1000,
            service_level=args.target,
            max_occupancy=args.max_occupancy,
            shrinkage=args.shrinkage,
        )
        if args.agents is not None:
            at = figures(demand, args.agents, target.answer_within_s)
            staffing = Staffing(demand.model, demand, target, at)
        else:
            staffing = required(demand, target)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    if args.json:
        print(json.dumps(as_json(staffing), indent=2))
    else:
        print(as_text(staffing, args))
    return EXIT_OK


def as_json(staffing: Staffing) -> dict[str, Any]:
    at = staffing.figures
    out: dict[str, Any] = {
        "model": staffing.model.value,
        "load_erlangs": round(at.load, 6),
        "agents": at.agents,
        "positions": staffing.positions,
        "service_level": at.service_level,
        "occupancy": at.occupancy,
        "waiting_probability": at.waiting_probability,
        "asa_seconds": at.asa_s if math.isfinite(at.asa_s) else None,
        "meets_target": meets(staffing),
    }
    if at.abandonment is not None:
        out["abandonment"] = at.abandonment
    return out


def meets(staffing: Staffing) -> bool:
    at, target = staffing.figures, staffing.target
    return at.service_level >= target.service_level and at.occupancy <= target.max_occupancy + 1e-12


def as_text(staffing: Staffing, args: argparse.Namespace) -> str:
    at, target = staffing.figures, staffing.target
    model = "Erlang A" if at.abandonment is not None else "Erlang C"
    patience = f", patience {args.patience}" if args.patience else ""
    lines = [
        f"{model}: {args.contacts:g} contacts per {args.interval}, handle time {args.aht}{patience}: "
        f"{at.load:.2f} Erlangs offered",
        f"agents            {at.agents}" + ("" if args.agents is not None else " (fewest meeting the target)"),
        f"positions         {staffing.positions} with {_pct(target.shrinkage)} shrinkage",
        f"service level     {_pct(at.service_level)} answered within {args.answer_within} "
        f"(target {_pct(target.service_level)})",
        f"occupancy         {_pct(at.occupancy)} (cap {_pct(target.max_occupancy)})",
        f"waiting           {_pct(at.waiting_probability)} of contacts wait",
        f"ASA               {_seconds(at.asa_s)}"
        + (" (mean wait of every contact)" if at.abandonment is not None else ""),
    ]
    if at.abandonment is not None:
        lines.append(f"abandonment       {_pct(at.abandonment)} of contacts")
    if not meets(staffing):
        lines.append("below target with this many agents")
    return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _seconds(s: float) -> str:
    return "unbounded (fewer agents than the load)" if not math.isfinite(s) else f"{s:.2f} s"


def _quality(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from cxstream.agents.scorecards import TicketFeed
    from cxstream.cli.common import cluster
    from cxstream.domain.base import now_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.workforce.quality import queue_trade_off
    from cxstream.kafka.history import read_history
    from cxstream.kafka.tools import read_to_end
    from cxstream.web.quality import trade_off_json

    found = cluster(settings, "staffing quality")
    if isinstance(found, int):
        return found
    ctx, options = found
    workforce = ctx.topology.workforce
    try:
        queue = workforce.queue(args.queue)
    except KeyError:
        return fail(f"no queue {args.queue!r} (declared: {', '.join(q.id for q in workforce.queues)})", EXIT_CONFIG)
    feed = TicketFeed(options, ctx.codec(Topics.EVENTS), workforce.scorecards)

    async def read() -> Any:
        async for message in read_to_end(options, Topics.EVENTS):
            feed.apply(message.key, message.value)
        return await read_history(options, ctx.codec(Topics.HISTORY))

    index, _ = asyncio.run(read())
    curve = queue_trade_off(list(feed.tickets.values()), ctx.topology.metrics, workforce, queue, index, now_ms())
    body = trade_off_json(curve)
    if args.json:
        print(json.dumps(body, indent=2))
        return EXIT_OK
    print("\n".join(quality_lines(body, queue.display)))
    return EXIT_OK


def quality_lines(body: dict[str, Any], display: str) -> list[str]:
    tiers = ", ".join(body["tiers"])
    lines = [f"{display} ({body['queue']}), {tiers} contacts over the last 28 days: {body['rated']} rated tickets"]
    if body["insufficient"]:
        return [*lines, f"  {body['insufficient']}"]
    lines.append(f"  today: {body['current_minutes']:.1f} min per {tiers} ticket, {100 * body['tier_share']:.0f} % of "
                 f"the queue's solved tickets; {body['note']}")  # fmt: skip
    for b in body["bins"]:
        lines.append(f"  handled {b['from_minutes']:.1f}-{b['to_minutes']:.1f} min: CSAT {100 * b['csat']:.0f} % "
                     f"({100 * b['low']:.0f}-{100 * b['high']:.0f} %, n={b['n']})")  # fmt: skip
    peak = body["peak"]
    when = f" (busiest interval {peak['start'][:16]} UTC, {peak['arrivals']} contacts)" if peak else ""
    lines.append(f"  {'allowed':>8} {'CSAT (95 % interval)':>22} {'agents at peak':>15} {'agent h/week':>13} "
                 f"{body['currency'] + ' a month':>14}{when}")  # fmt: skip
    for p in body["points"]:
        csat = p["csat"]
        shown = f"{100 * csat['value']:.0f} % ({100 * csat['low']:.0f}-{100 * csat['high']:.0f})" if csat else "-"
        lines.append(f"  {p['handle_minutes']:>6g} m {shown:>22} {p['peak_agents']:>9} ({p['peak_delta']:+d}) "
                     f"{p['agent_hours_week']:>+13.1f} {p['monthly_cost']:>+14,}")  # fmt: skip
    return lines


def _floor(settings: Settings, args: argparse.Namespace) -> int:
    import os
    import urllib.error
    import urllib.request

    url = (args.url or settings.web_url).rstrip("/") + "/api/workforce"
    token = args.token or os.environ.get("CXSTREAM_TOKEN")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        hint = " (give --token or set CXSTREAM_TOKEN)" if exc.code in (401, 403) and not token else ""
        return fail(f"{url}: HTTP {exc.code} {detail}{hint}", EXIT_CONFIG)
    except (urllib.error.URLError, OSError) as exc:
        return fail(f"{url}: {exc}", EXIT_CONFIG)
    if args.json:
        print(json.dumps(body, indent=2))
        return EXIT_OK
    print("\n".join(floor_lines(body)))
    return EXIT_OK


def floor_lines(body: dict[str, Any]) -> list[str]:
    """The floor table a terminal shows (the page's floor table, in text)."""
    lines = [f"{'queue':28} {'on floor':>9} {'needed now':>10}  {'service level, worst ahead (target)':44} gap"]
    for queue in body.get("queues", []):
        live = queue.get("live")
        if live is None:
            lines.append(f"{queue['display']:28} {'-':>9} {'-':>10}  no floor on this worker's topology")
            continue
        floor, intervals = live["floor"], live["intervals"]
        needed = str(intervals[0]["required"]) if intervals else "-"
        target = queue["target"]["service_level"]
        if intervals:
            worst = min(intervals, key=lambda i: i["service_level"])
            level = (f"{worst['service_level']:.2f} ({worst['service_level_low']:.2f}-"
                     f"{worst['service_level_high']:.2f}) {worst['start'][11:16]} UTC, n={worst['arrivals']['weeks']}w"
                     f" ({target:.2f})")  # fmt: skip
        else:
            level = live["insufficient"] or "-"
        gap = live["gap"]
        shown = f"{gap['severity']} since {gap['since'][11:16]} UTC" if gap else (live["severity"] or "none")
        if not gap and live["severity"]:
            shown += " (held)"
        lines.append(f"{queue['display']:28} {floor['staffed']:>4} of {floor['agents']:<2} {needed:>10}  {level:44} "
                     f"{shown}")  # fmt: skip
    lines += [f"  {q['display']}: {q['live']['summary']}" for q in body.get("queues", []) if q.get("live")]
    return lines


def cmd_forecast(settings: Settings, args: argparse.Namespace) -> int:
    return _plans(settings, args, staffing=False)


def _plans(settings: Settings, args: argparse.Namespace, *, staffing: bool) -> int:
    from datetime import UTC, datetime

    from cxstream.cli.common import cluster, count
    from cxstream.domain.catalog import Topics
    from cxstream.domain.workforce.queues import queue_plan
    from cxstream.kafka.history import read_history
    from cxstream.web.workforce import parse_days, plan_json

    found = cluster(settings, "forecast" if not staffing else "staffing plan")
    if isinstance(found, int):
        return found
    ctx, options = found
    workforce, metrics = ctx.topology.workforce, ctx.topology.metrics
    try:
        queues = [workforce.queue(q) for q in args.queue] if args.queue else list(workforce.queues)
        first, days = parse_days({"day": args.day or "", "days": str(args.days)}, workforce, datetime.now(UTC).date())
    except KeyError as exc:
        known = ", ".join(q.id for q in workforce.queues) or "none declared"
        return fail(f"no queue {exc.args[0]!r} (declared: {known})", EXIT_CONFIG)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    if not queues:
        return fail("no queues declared (topologies/workforce.yaml)", EXIT_CONFIG)
    import asyncio

    index, undecodable = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
    if undecodable:
        print(f"{count(undecodable, 'record')} on {Topics.HISTORY} did not decode and were left out", file=sys.stderr)
    plans = [queue_plan(metrics, workforce, queue, index, first, days) for queue in queues]
    if args.json:
        print(json.dumps([plan_json(workforce, plan) for plan in plans], indent=2))
        return EXIT_OK
    for plan in plans:
        print(plan_text(plan, staffing=staffing))
    return EXIT_OK


def plan_text(plan: Any, *, staffing: bool) -> str:
    """One queue's plan for a terminal: a header with the history and accuracy, then a row per interval."""
    f, target = plan.forecast, plan.target
    acc = f.accuracy
    level = round(f.confidence * 100)
    model = "Erlang A" if plan.patience_s is not None else "Erlang C"
    lines = [f"{plan.queue.display} ({plan.queue.id}): {_pct(target.service_level)} in {target.answer_within_s:g} s, "
             f"{model}, shrinkage {_pct(target.shrinkage)}, occupancy cap {_pct(target.max_occupancy)}"]  # fmt: skip
    if acc.intervals:
        lines.append(f"  learnt from {f.history_days} complete days; accuracy on the last {acc.days} days "
                     f"(n={acc.intervals} intervals): WAPE {_pct(acc.wape_interval or 0)} per interval, "
                     f"{_pct(acc.wape_day or 0)} per day; {_pct(acc.inside or 0)} of actuals inside the "
                     f"{level} % interval")  # fmt: skip
    else:
        lines.append(f"  learnt from {f.history_days} complete days; no past day to measure its accuracy on yet")
    for tier in plan.tiers:
        lines.append(
            f"  handle time, {tier.display}: {tier.handle_time.describe()}, {_pct(tier.share)} of solved tickets"
        )
    if f.yearly is not None:
        y = f.yearly
        lines.append(f"  yearly pattern: x{y.factor:.2f} (last year's same week {y.week_mean:.1f} contacts a day "
                     f"against {y.base_mean:.1f} in the weeks before it; n={y.days} days)")  # fmt: skip
    else:
        lines.append(f"  yearly pattern: none ({f.yearly_note})")
    if not f.sufficient:
        lines.append("  insufficient history: each interval needs the same interval on at least 2 past weeks")
        return "\n".join(lines)
    head = (
        f"  {'interval (UTC)':17} {'contacts':>8} {f'{level} % interval':>14} {'weeks':>5} {'arrived':>7} "
        f"{'AHT':>7} {'Erlangs':>7}"
    )
    if staffing:
        head += f" {'agents':>6} {'positions':>9} {'SL':>6} {'ASA':>7}"
    lines.append(head)
    for one in plan.staffing:
        i = one.forecast
        if i.arrivals is None:
            lines.append(f"  {i.start:%a %d %H:%M}      insufficient history (n={i.weeks} weeks)")
            continue
        actual = f"{i.actual:g}" if i.actual is not None else "-"
        aht = f"{i.handle_s / 60:.1f}m" if i.handle_s is not None else "-"
        work = f"{i.workload:.2f}" if i.workload is not None else "-"
        row = (f"  {i.start:%a %d %H:%M}      {i.arrivals:8.1f} {f'{i.low:g}-{i.high:g}':>14} {i.weeks:5d} "
               f"{actual:>7} {aht:>7} {work:>7}")  # fmt: skip
        if staffing and one.staffing is not None:
            at = one.staffing.figures
            asa = f"{at.asa_s:.1f}s" if math.isfinite(at.asa_s) else "-"
            row += f" {one.agents:6d} {one.positions:9d} {_pct(at.service_level):>6} {asa:>7}"
        lines.append(row)
    return "\n".join(lines)
