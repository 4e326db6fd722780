"""``cxstream handover``: a team's shift handovers from ``cx.handovers`` (with the acknowledgements on
``cx.handover-acks``), and their acknowledgement by the incoming supervisor.

* ``handover [--team T] [--shift S] [--json]``: the latest handover of each team (or of T); ``--shift`` takes a
  shift name (its latest handover), a handover id or the shift's start (``2026-12-05T06:00``, UTC);
* ``handover ack HANDOVER_ID [--note TEXT] [--author NAME]``: acknowledge it (exit 1 when it is acknowledged
  already or unknown). The routing side copies the acknowledgement into the handover and resolves its escalation.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, fail
from cxstream.domain.handovers.records import Handover
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("handover", help="shift handovers: what a shift hands to the next, and its acknowledgement")
    p.add_argument("--team", default=None, help="one team (default: every team with shifts)")
    p.add_argument("--shift", default=None, help="a shift name, a handover id or the shift's start (UTC)")
    p.add_argument("--json", action="store_true")
    actions = p.add_subparsers(dest="action", required=False, metavar="ACTION")
    ack = actions.add_parser("ack", help="acknowledge a handover as the incoming supervisor")
    ack.add_argument("handover_id")
    ack.add_argument("--note", default=None, help="what the incoming shift takes over")
    ack.add_argument("--author", default=None, help="who acknowledges (default: the login name)")
    p.set_defaults(handler=cmd_handover)


def _matches(handover: Handover, shift: str | None) -> bool:
    if shift is None:
        return True
    if shift in (handover.shift, handover.handover_id):
        return True
    try:
        start = datetime.fromisoformat(shift)
    except ValueError:
        return False
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    return int(start.timestamp() * 1000) == handover.start_ms


def cmd_handover(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from cxstream.cli.common import author, cluster
    from cxstream.domain.base import now_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.handovers.records import HandoverAck, HandoverBook
    from cxstream.domain.handovers.views import handover_json, handover_text
    from cxstream.kafka.tools import read_decoded, send_records

    reached = cluster(settings, "handover")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    if not ctx.topology.handovers.teams:
        return fail("no shifts declared (topologies/handovers.yaml)", EXIT_CONFIG)
    book = HandoverBook()
    records, _ = asyncio.run(read_decoded(options, ctx.codec(Topics.HANDOVERS), Topics.HANDOVERS))
    for record in records:
        book.add(Handover.from_record(record))
    acks, _ = asyncio.run(read_decoded(options, ctx.codec(Topics.HANDOVER_ACKS), Topics.HANDOVER_ACKS))
    for record in acks:
        book.acknowledge(HandoverAck.from_record(record))
    if args.action == "ack":
        found = book.view(args.handover_id)
        if found is None:
            return fail(f"no handover {args.handover_id!r}", EXIT_FAILED)
        if found.acknowledged_by is not None:
            return fail(f"{args.handover_id} is acknowledged already by {found.acknowledged_by}", EXIT_FAILED)
        try:
            who = author(args.author)
        except ValueError as exc:
            return fail(str(exc), EXIT_CONFIG)
        ack = HandoverAck(args.handover_id, who, now_ms(), "supervisor", args.note)
        codec = ctx.codec(Topics.HANDOVER_ACKS)
        asyncio.run(
            send_records(options, Topics.HANDOVER_ACKS, [(args.handover_id.encode(), codec.encode(ack.record()))])
        )
        print(f"{args.handover_id} acknowledged by {who}")
        return EXIT_OK
    teams = [t.team for t in ctx.topology.handovers.teams if args.team in (None, t.team)]
    if not teams:
        return fail(f"{args.team!r} has no shifts declared", EXIT_CONFIG)
    now = now_ms()
    chosen = []
    for team in teams:
        matching = [h for h in book.latest(team, 1000) if _matches(h, args.shift)]
        if matching:
            chosen.append(matching[0])
    if args.json:
        print(json.dumps([handover_json(h, now) for h in chosen], indent=2))
        return EXIT_OK if chosen else EXIT_FAILED
    if not chosen:
        print("no handover yet: one is published at the end of each declared shift")
        return EXIT_FAILED
    for handover in chosen:
        print("\n".join(handover_text(handover, now)))
    return EXIT_OK
