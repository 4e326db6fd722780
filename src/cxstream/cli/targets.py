"""``cxstream targets``: CX targets per metric and scope as versioned records on ``cx.targets``: list them, set one
(with a rationale and an effective date), record a capability change (which proposes a revised target from what
comparable scopes reach now), accept or reject a proposal."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, author, cluster, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("targets", help="CX targets as versioned records; proposals after capability changes")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    lst = actions.add_parser("list", help="each target: the version in force, open proposals, every version")
    lst.add_argument("--json", action="store_true")
    set_ = actions.add_parser("set", help="set a target (accepted from its effective date)")
    set_.add_argument("--metric", required=True)
    set_.add_argument("--scope", required=True, help="e.g. site:ams-1")
    set_.add_argument("--value", type=float, required=True, help="a share, e.g. 0.85")
    set_.add_argument("--rationale", required=True)
    set_.add_argument("--effective", default=None, help="YYYY-MM-DD (default: today)")
    set_.add_argument("--author", default=None)
    cap = actions.add_parser("capability", help="record a capability change: proposes a target from peers' reach")
    cap.add_argument("--metric", required=True)
    cap.add_argument("--scope", required=True)
    cap.add_argument("--title", required=True, help="the capability change, e.g. automated rebooking")
    cap.add_argument(
        "--peer",
        action="append",
        default=None,
        help="a comparable scope (repeat; default: the other values of the scope's dimension)",
    )
    cap.add_argument("--author", default=None)
    for name in ("accept", "reject"):
        d = actions.add_parser(name, help=f"{name} a proposed target")
        d.add_argument("target_id")
        d.add_argument("version", type=int)
        d.add_argument("--author", default=None)
    p.set_defaults(handler=cmd_targets)


def cmd_targets(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.base import now_ms, to_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.impact.targets import Refused, Target, TargetBook, decide, declared, peers_of, propose, reach
    from cxstream.domain.impact.views import target_json, targets_json
    from cxstream.kafka.history import read_history
    from cxstream.kafka.tools import read_decoded, send_records
    from cxstream.web.impact import parse_scope

    reached = cluster(settings, f"targets {args.action}")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    codec = ctx.codec(Topics.TARGETS)
    records, _ = asyncio.run(read_decoded(options, codec, Topics.TARGETS))
    book = TargetBook()
    for record in records:
        book.add(Target.from_record(record))
    at = now_ms()
    if args.action == "list":
        rows = targets_json(book, at)
        if args.json:
            print(json.dumps(rows, indent=2))
            return EXIT_OK
        for tid in book.ids():
            current = book.current(tid, at)
            latest = book.versions(tid)[-1]
            where = ",".join(f"{k}={v}" for k, v in latest.scope.items())
            since = datetime.fromtimestamp(current.effective_ms / 1000, UTC).date() if current else None
            now = f"{100 * current.value:.1f} % since {since} ({current.rationale})" if current else "none in force"
            print(f"{tid}  {latest.metric} {where}: {now}")
            for v in book.versions(tid):
                if v.state.value == "PROPOSED":
                    print(f"  proposed v{v.version}: {100 * v.value:.1f} % - {v.evidence}")
        return EXIT_OK
    try:
        if args.action in ("accept", "reject"):
            target = decide(book, args.target_id, args.version, args.action == "accept", author(args.author), at)
        else:
            metric = args.metric
            ctx.topology.metrics.definition(metric)
            scope = parse_scope(args.scope)
            if args.action == "set":
                day = date.fromisoformat(args.effective) if args.effective else datetime.now(UTC).date()
                effective = to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))
                target = declared(book, metric, scope, args.value, args.rationale, effective, author(args.author), at)
            else:
                index, _ = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
                peers = [parse_scope(p) for p in args.peer] if args.peer else peers_of(index, metric, scope, at)
                found = reach(index, ctx.topology.metrics, metric, peers, at)
                if found is None:
                    return fail(f"the comparable scopes ({len(peers)}) have no {metric} answers in the last 28 days",
                                EXIT_FAILED)  # fmt: skip
                target = propose(book, metric, scope, args.title, found, author(args.author), at)
    except KeyError:
        return fail(f"no metric {args.metric!r}", EXIT_CONFIG)
    except Refused as refused:
        return fail(str(refused), EXIT_FAILED)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    key = f"{target.target_id}|{target.version}".encode()
    asyncio.run(send_records(options, Topics.TARGETS, [(key, codec.encode(target.record()))]))
    print(json.dumps(target_json(target)))
    return EXIT_OK
