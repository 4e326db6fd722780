"""``cxstream history show|sources`` and ``cxstream import --history``: metric history read from, and past
records loaded into, ``cx.metrics.history``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, cluster, count, fail
from cxstream.domain.catalog import Topics
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("history", help="closed days of a metric, merged into weeks, months, quarters or years")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = actions.add_parser("show", help="one metric over time, e.g. show csat.delivery --grain month")
    s.add_argument("definition", help="a metric definition id (cxstream config lists them)")
    s.add_argument("--grain", default="week", help="interval, day, week (default), month, quarter or year")
    s.add_argument("--from", dest="first", default=None, metavar="DATE", help="first day, e.g. 2026-01-01")
    s.add_argument("--to", dest="last", default=None, metavar="DATE", help="last day (default today)")
    s.add_argument("--where", action="append", default=[], metavar="DIM=VALUE", help="e.g. --where region=emea")
    actions.add_parser("sources", help="who wrote the history: live partitions (and how far) and imported files")
    p.set_defaults(handler=cmd_history)


def cmd_history(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.kafka.history import read_history

    found = cluster(settings, "history")
    if isinstance(found, int):
        return found
    ctx, options = found
    index, undecodable = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
    if undecodable:
        print(f"{count(undecodable, 'record')} on {Topics.HISTORY} did not decode and were left out", file=sys.stderr)
    if args.action == "sources":
        return _sources(index)
    return _show(ctx, index, args)


def _sources(index: Any) -> int:
    coverage = index.coverage()
    origins = index.origins()
    if not origins:
        print("no history yet: live partitions publish each day once it is closed (its end + grace)")
    for origin, n in sorted(origins.items()):
        closure = index.closed(origin)
        through = f", closed through {_at(closure.through_ms)}" if closure else ""
        note = f" ({closure.note})" if closure and closure.note else ""
        print(f"{origin:26} {count(n, 'fact'):>14}{through}{note}")
    if coverage.partitions:
        through = _at(coverage.through_ms) if coverage.through_ms is not None else "not yet (a partition is silent)"
        print(f"live: {coverage.closed} of {coverage.partitions} partitions closed; complete through {through}")
    return EXIT_OK


def _at(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _show(ctx: Any, index: Any, args: argparse.Namespace) -> int:
    from cxstream.domain.history.views import history_view
    from cxstream.web.history import parse_grain, parse_range

    spec = ctx.topology.metrics
    try:
        where = dict(item.split("=", 1) for item in args.where)
        grain = parse_grain(args.grain)
        query = {"from": args.first or "", "to": args.last or ""}
        first, last = parse_range(query, grain, datetime.now(UTC).date())
        view = history_view(spec, index, args.definition, grain, first, last, now=datetime.now(UTC), where=where)
    except (KeyError, ValueError) as exc:
        return fail(str(exc.args[0] if exc.args else exc), EXIT_CONFIG)
    scope = ", ".join(f"{k}={v}" for k, v in where.items()) or "all scopes"
    level = round(spec.confidence * 100)
    definition = spec.definition(args.definition)
    print(f"{definition.title} ({args.definition}, {definition.scale_text}) by {grain.value}, {scope} "
          f"({level}% intervals; * partial, i imported)")  # fmt: skip
    for point in view.points:
        if point.estimate.n == 0:
            continue
        flags = ("*" if point.partial else "") + ("i" if point.imported else "")
        sla = f"  SLA {point.sla.describe()}" if point.sla is not None else ""
        print(f"{point.start:%Y-%m-%d} {flags:2} {point.estimate.describe()}{sla}")
    shown = sum(1 for p in view.points if p.estimate.n)
    if not shown:
        print("no closed days in this range")
    return EXIT_OK


def import_history(settings: Settings, args: argparse.Namespace) -> int:
    """``cxstream import --history --source NAME FILE...``."""
    found = cluster(settings, "import --history")
    if isinstance(found, int):
        return found
    ctx, options = found
    from cxstream.cli.data import import_inputs

    inputs = import_inputs(ctx, args)
    if isinstance(inputs, int):
        return inputs
    connector, paths = inputs
    try:
        until = date.fromisoformat(args.until) if args.until else None
    except ValueError as exc:
        return fail(f"--until: {exc}", EXIT_CONFIG)
    return asyncio.run(_import(ctx, options, connector, paths, until))


async def _import(ctx: Any, options: dict[str, Any], connector: Any, paths: list[Path], until: date | None) -> int:
    from cxstream.backfill import backfill_files, first_live_day, today_ms
    from cxstream.domain.base import to_ms
    from cxstream.domain.history.backfill import Counted

    if until is None:
        live = await first_live_day(options, ctx.codec(Topics.HISTORY))
        until_ms = live if live is not None else today_ms()
        print(
            f"importing days before {_at(until_ms)[:10]}: "
            + ("the first day the live partitions published" if live else "no live history yet, so before today")
            + " (--until chooses another day)",
            file=sys.stderr,
        )
    else:
        until_ms = to_ms(datetime(until.year, until.month, until.day, tzinfo=UTC))
    report = await backfill_files(ctx, options, connector, paths, until_ms, progress_out=sys.stderr)
    print(f"{count(report.records, 'record')} from {count(report.files, 'file')} in {report.elapsed_s:.1f} s "
          f"({report.rate:,.0f} records/s)")  # fmt: skip
    for outcome in Counted:
        if report.outcomes[outcome]:
            print(f"  {count(report.outcomes[outcome], 'event')} {outcome.value}")
    for stage, n in sorted(report.dead_lettered.items()):
        print(f"  {count(n, 'record')} dead-lettered at {stage.lower()} (cxstream dlq inspect shows why)")
    print(f"{count(report.facts, 'history fact')} written to {Topics.HISTORY}; days per definition:")
    for definition, n in report.days.items():
        print(f"  {definition:20} {n}")
    return EXIT_FAILED if not report.records else EXIT_OK
