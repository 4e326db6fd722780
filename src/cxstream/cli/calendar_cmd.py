"""``cxstream calendar``: plan trainings and system changes that take agents off queues, each checked against the
forecast before it is published to ``cx.workforce-calendar`` (add, list, cancel)."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, at_text, author, cluster, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("calendar", help="trainings and system changes that take agents off queues, checked "
                       "against the forecast: add, list, cancel")  # fmt: skip
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser(
        "add",
        help="plan one, e.g. add --kind training --title 'Refunds 2027' --queue billing --agents 3 "
        "--start 2026-12-14T10:00 --duration 2h",
        description="Checks the entry against its queues' forecast (the service level it leaves in the worst "
        "interval against the planned one, a better start when it falls under the target) and the declared peak "
        "seasons and change freezes, prints the verdict and publishes it unless a rule refuses it (or --dry-run).",
    )
    a.add_argument("--kind", required=True, choices=["training", "system_change", "other"])
    a.add_argument("--title", required=True)
    a.add_argument("--queue", action="append", required=True, help="a queue it takes agents from (repeatable)")
    a.add_argument("--agents", type=int, required=True, help="agents it takes off each queue")
    a.add_argument("--start", required=True, help="ISO time, e.g. 2026-12-14T10:00 (UTC unless an offset is given)")
    a.add_argument("--duration", required=True, help="how long, e.g. 90m, 2h, 3d")
    a.add_argument("--author", default=None, help="who plans it (default the login name)")
    a.add_argument("--comment", default=None)
    a.add_argument("--dry-run", action="store_true", help="check only; publish nothing")
    a.add_argument("--json", action="store_true", help="print the assessment as JSON")
    lst = actions.add_parser("list", help="entries that have not ended, each with its assessment")
    lst.add_argument("--json", action="store_true")
    c = actions.add_parser("cancel", help="cancel an entry by id")
    c.add_argument("id")
    c.add_argument("--author", default=None)
    p.set_defaults(handler=cmd_calendar)


def cmd_calendar(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.catalog import Topics
    from cxstream.domain.durations import parse_duration_ms
    from cxstream.domain.workforce.calendar import CalendarEntry, assess, latest, new_entry
    from cxstream.kafka.history import read_history
    from cxstream.kafka.tools import read_decoded, send_records
    from cxstream.web.calendar_api import assessment_json, plans_for

    reached = cluster(settings, "calendar")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    workforce, metrics = ctx.topology.workforce, ctx.topology.metrics
    codec = ctx.codec(Topics.CALENDAR)
    now = datetime.now(UTC)

    def index() -> Any:
        found, _ = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
        return found

    if args.action == "add":
        try:
            start = datetime.fromisoformat(args.start)
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
            ends = start + timedelta(milliseconds=parse_duration_ms(args.duration))
            entry = new_entry(args.kind, args.title, args.queue, args.agents, start, ends, author(args.author),
                              [q.id for q in workforce.queues], args.comment)  # fmt: skip
        except ValueError as exc:
            return fail(str(exc), EXIT_CONFIG)
        assessment = assess(entry, plans_for(entry, metrics, workforce, index()), workforce.calendar)
        print(
            json.dumps(assessment_json(assessment), indent=2)
            if args.json
            else f"{entry.entry_id}  {assessment.summary()}"
        )
        if assessment.refused:
            return fail(f"{entry.entry_id} not planned: a peak season or change freeze refuses it", EXIT_FAILED)
        if not args.dry_run:
            asyncio.run(
                send_records(options, Topics.CALENDAR, [(entry.entry_id.encode(), codec.encode(entry.to_record()))])
            )
        return EXIT_OK
    records, bad = asyncio.run(read_decoded(options, codec, Topics.CALENDAR))
    current = latest([CalendarEntry.from_record(r) for r in records])
    if args.action == "cancel":
        found = current.get(args.id)
        if found is None:
            return fail(f"no calendar entry {args.id!r}", EXIT_FAILED)
        cancelled = found.cancel(int(now.timestamp() * 1000))
        asyncio.run(
            send_records(options, Topics.CALENDAR, [(found.entry_id.encode(), codec.encode(cancelled.to_record()))])
        )
        print(f"{args.id} cancelled")
        return EXIT_OK
    shown = sorted((e for e in current.values() if not e.cancelled and e.ends_ms > now.timestamp() * 1000),
                   key=lambda e: e.starts_ms)  # fmt: skip
    rows = []
    if shown:
        history = index()
        rows = [
            assessment_json(assess(e, plans_for(e, metrics, workforce, history), workforce.calendar)) for e in shown
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no planned entries")
    for row in rows if not args.json else []:
        starts = at_text(datetime.fromisoformat(row["starts_at"]))
        print(f"{row['entry_id']}  {starts}  {row['verdict']:12}  {row['summary']}")
    if bad:
        print(f"{bad} messages on {Topics.CALENDAR} did not decode as calendar entries")
    return EXIT_OK
