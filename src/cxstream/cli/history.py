"""``cxstream history show|sources`` and ``cxstream import --history``: metric history read from, and past
records loaded into, ``cx.metrics.history``."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
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
    print(f"{args.definition} by {grain.value}, {scope} ({level}% intervals; * partial, i imported)")
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


@dataclass
class ImportSummary:
    records: int = 0
    lines_unparsed: int = 0
    dead_lettered: Counter[str] = field(default_factory=Counter)  # by stage
    facts: int = 0


def import_history(settings: Settings, args: argparse.Namespace) -> int:
    """``cxstream import --history --source NAME FILE...``."""
    found = cluster(settings, "import --history")
    if isinstance(found, int):
        return found
    ctx, options = found
    connector = next((c for c in ctx.connectors.values() if c.name == args.source), None)
    if connector is None:
        names = ", ".join(sorted(c.name for c in ctx.connectors.values()))
        return fail(f"no enabled connector {args.source!r} (enabled: {names})", EXIT_CONFIG)
    paths = [Path(f) for f in args.file]
    try:
        from cxstream.connectors.files import file_format

        for path in paths:
            file_format(path)
            if not path.is_file():
                raise ValueError(f"{path}: no such file")
        until = date.fromisoformat(args.until) if args.until else None
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    return asyncio.run(_import(ctx, options, connector, paths, until))


async def _import(ctx: Any, options: dict[str, Any], connector: Any, paths: list[Path], until: date | None) -> int:
    from cxstream.connectors.base import RawContext
    from cxstream.connectors.files import IMPORT_FILE_HEADER, read_records
    from cxstream.connectors.pipeline import normalize_record
    from cxstream.domain.base import now_ms, to_ms
    from cxstream.domain.history.backfill import Backfill, Counted, import_origin
    from cxstream.domain.history.facts import HistoryClosed, is_live
    from cxstream.domain.ingest.dead_letter import SourcePosition, dead_letter_record
    from cxstream.kafka.history import BackfillWriter, read_history
    from cxstream.kafka.tools import IMPORT_POSITION_PREFIX, Progress

    history_codec = ctx.codec(Topics.HISTORY)
    if until is None:
        index, _ = await read_history(options, history_codec)
        live = [f.key.start_ms for f in index.all_facts() if is_live(f.key.origin)]
        until_ms = min(live) if live else to_ms(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0))
        print(
            f"importing days before {_at(until_ms)[:10]}: "
            + ("the first day the live partitions published" if live else "no live history yet, so before today")
            + " (--until chooses another day)",
            file=sys.stderr,
        )
    else:
        until_ms = to_ms(datetime(until.year, until.month, until.day, tzinfo=UTC))
    started = now_ms()
    backfill = Backfill(ctx.topology.metrics, until_ms, started)
    summary = ImportSummary()
    total = sum(_lines(p) for p in paths)
    progress = Progress(total, label="records")
    began = time.monotonic()
    async with BackfillWriter(options, history_codec, ctx.codec(Topics.DLQ)) as writer:
        for path in paths:
            digest = _sha256(path)
            origin = import_origin(connector.name, digest)
            headers = {IMPORT_FILE_HEADER: path.name.encode()}
            for record in read_records(path):
                summary.records += 1
                raw_context = RawContext(ingest_time=datetime.now(UTC), headers=headers)
                outcome = normalize_record(connector, record.value, raw_context, ctx.validator, ctx.enricher,
                                           history=True)  # fmt: skip
                if outcome.rejects:
                    assert outcome.stage is not None
                    position = SourcePosition(f"{IMPORT_POSITION_PREFIX}{origin[len('import:') :]}", 0, record.line)
                    letter = dead_letter_record(source=connector.name, stage=outcome.stage, reasons=outcome.rejects,
                                                position=position, value=record.value, key=None, headers=headers,
                                                now_ms=now_ms())  # fmt: skip
                    await writer.dead_letter(letter, connector.name.encode())
                    summary.dead_lettered[outcome.stage.value] += 1
                for event in outcome.events:
                    backfill.add(event, origin)
                progress.advance()
        progress.close()
        facts = backfill.facts()
        summary.facts = await writer.facts(facts)
        for path in paths:  # each file's closure: up to where it was loaded, and what it is
            origin = import_origin(connector.name, _sha256(path))
            note = f"{path.name} via {connector.name}"
            await writer.closure(HistoryClosed(origin, until_ms, 0, note))
    elapsed = max(time.monotonic() - began, 1e-6)
    print(f"{count(summary.records, 'record')} from {count(len(paths), 'file')} in {elapsed:.1f} s "
          f"({summary.records / elapsed:,.0f} records/s)")  # fmt: skip
    for outcome_name in Counted:
        if backfill.outcomes[outcome_name]:
            print(f"  {count(backfill.outcomes[outcome_name], 'event')} {outcome_name.value}")
    for stage, n in sorted(summary.dead_lettered.items()):
        print(f"  {count(n, 'record')} dead-lettered at {stage.lower()} (cxstream dlq inspect shows why)")
    days = backfill.days_per_definition()
    print(f"{count(summary.facts, 'history fact')} written to {Topics.HISTORY}; days per definition:")
    for definition, n in days.items():
        print(f"  {definition:20} {n}")
    return EXIT_FAILED if not summary.records else EXIT_OK


def _lines(path: Path) -> int:
    """Lines in a file (an upper bound of its records, for the progress bar), counted fast."""
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
