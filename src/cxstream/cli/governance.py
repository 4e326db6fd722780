"""``cxstream governance``: scaling proposals before the declared committees: propose one with its evidence, vote,
comment, withdraw, and list or show them with their votes and decision. A proposal whose evidence names no
remediation item with a verified effect is marked so."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, author, cluster, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("governance", help="scaling proposals before committees: propose, vote, list, show")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    lst = actions.add_parser("list", help="proposals with their state and votes")
    lst.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one proposal: evidence, votes, decision, audit trail")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    prop = actions.add_parser("propose", help="a proposal to a committee")
    prop.add_argument("--committee", required=True)
    prop.add_argument("--kind", required=True, choices=["rollout", "playbook_revision", "partner_suggestion"])
    prop.add_argument("--title", required=True)
    prop.add_argument("--item", action="append", default=[], help="a remediation item it rests on (repeatable)")
    prop.add_argument("--wave", action="append", default=[], help="a playbook wave, PLAYBOOK/WAVE (repeatable)")
    prop.add_argument("--note", default="", help="the evidence in words (variance, cost)")
    prop.add_argument("--cost-weeks", type=float, default=None)
    prop.add_argument("--author", default=None)
    for name in ("vote", "comment", "withdraw"):
        a = actions.add_parser(name, help={"vote": "vote yes, no or abstain", "comment": "add a comment",
                                           "withdraw": "withdraw your own proposal"}[name])  # fmt: skip
        a.add_argument("id")
        a.add_argument("--author", default=None, help="who (a committee member's name for a vote)")
        a.add_argument("--comment", default=None, required=name == "comment")
        if name == "vote":
            a.add_argument("choice", choices=["yes", "no", "abstain"])
    p.set_defaults(handler=cmd_governance)


def cmd_governance(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.catalog import Topics
    from cxstream.domain.locations.governance import Action, Evidence, Kind, Register, Vote, apply
    from cxstream.domain.locations.governance import Refused as GovernanceRefused
    from cxstream.domain.locations.governance_records import action_from_record, action_record, proposal_json
    from cxstream.kafka.tools import read_decoded, send_records

    reached = cluster(settings, "governance")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    codec = ctx.codec(Topics.GOVERNANCE)
    records, _ = asyncio.run(read_decoded(options, codec, Topics.GOVERNANCE))
    register = Register(ctx.topology.governance)
    for record in records:
        register.record(action_from_record(record))
    if args.action in ("list", "show"):
        if args.action == "show":
            found = register.proposals.get(args.id)
            if found is None:
                return fail(f"no proposal {args.id!r}", EXIT_FAILED)
            body: dict[str, Any] = proposal_json(found, register)
            print(json.dumps(body, indent=2) if args.json else _describe(body))
            return EXIT_OK
        ordered = sorted(register.proposals.values(), key=lambda p: p.opened_ms)
        rows: list[dict[str, Any]] = [proposal_json(p, register) for p in ordered]
        if args.json:
            print(json.dumps(rows, indent=2))
            return EXIT_OK
        for row in rows:
            mark = "" if row["verified_effect"] else "  (no verified effect)"
            print(f"{row['proposal_id']}  {row['state']:9} {row['committee_name']}: {row['title']}  votes "
                  f"{len(row['votes'])}/{row['quorum']}{mark}")  # fmt: skip
        if not rows:
            print("no proposals")
        return EXIT_OK
    try:
        actor = author(args.author)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    now = datetime.now(UTC)
    kind = {"propose": Kind.PROPOSE, "vote": Kind.VOTE, "comment": Kind.COMMENT, "withdraw": Kind.WITHDRAW}[args.action]
    seed = f"{getattr(args, 'title', '')}|{actor}|{now.isoformat()}"
    proposal_id = f"prop-{hashlib.sha256(seed.encode()).hexdigest()[:20]}" if kind is Kind.PROPOSE else args.id
    verified = False
    if kind is Kind.PROPOSE:
        verified = _verified(ctx, options, list(args.item))
    action = Action(
        action_id=f"gov-{hashlib.sha256(f'{proposal_id}|{kind}|{actor}|{now.isoformat()}'.encode()).hexdigest()[:16]}",
        proposal_id=proposal_id, kind=kind, actor=actor, at_ms=int(now.timestamp() * 1000),
        committee=getattr(args, "committee", None), proposal_kind=getattr(args, "kind", None),
        title=getattr(args, "title", None),
        evidence=Evidence(tuple(getattr(args, "item", [])), tuple(getattr(args, "wave", [])),
                          getattr(args, "note", "") or "", getattr(args, "cost_weeks", None)),
        verified=verified, vote=Vote(args.choice) if kind is Kind.VOTE else None,
        comment=getattr(args, "comment", None),
    )  # fmt: skip
    try:
        after = apply(register.proposals.get(proposal_id), action, ctx.topology.governance)
    except GovernanceRefused as refused:
        return fail(f"refused ({refused.rule_id}): {refused.message}", EXIT_FAILED)
    asyncio.run(send_records(options, Topics.GOVERNANCE, [(proposal_id.encode(), codec.encode(action_record(action)))]))
    note = "" if kind is not Kind.PROPOSE or verified else "; its evidence holds no verified effect"
    print(f"{proposal_id} {args.action} recorded: now {after.state.value}{note}")
    return EXIT_OK


def _verified(ctx: Any, options: dict[str, Any], items: list[str]) -> bool:
    """Whether one of ``items`` is a remediation item with a verified effect (read from ``cx.remediation``)."""
    if not items or ctx.topology.remediation is None:
        return False
    from cxstream.domain.catalog import Topics
    from cxstream.domain.remediation.backlog import Backlog
    from cxstream.domain.remediation.records import action_from_record
    from cxstream.kafka.tools import read_decoded

    records, _ = asyncio.run(read_decoded(options, ctx.codec(Topics.REMEDIATION), Topics.REMEDIATION))
    backlog = Backlog(ctx.topology.remediation)
    backlog.record_all(action_from_record(r) for r in records)
    return any(backlog.items[i].state.value == "VERIFIED" for i in items if i in backlog.items)


def _describe(body: dict[str, Any]) -> str:
    lines = [f"{body['proposal_id']}  {body['state']}  {body['committee_name']} ({body['kind']}): {body['title']}",
             f"  proposed by {body['proposer']} at {body['opened_at']}; "
             + ("rests on a verified effect" if body["verified_effect"] else "no verified effect in its evidence"),
             f"  evidence: items {', '.join(body['evidence']['items']) or '-'}; waves "
             f"{', '.join(body['evidence']['waves']) or '-'}; {body['evidence']['note'] or ''}",
             f"  votes ({len(body['votes'])} of quorum {body['quorum']}, {body['rule']}): "
             + (", ".join(f"{m} {v}" for m, v in body["votes"].items()) or "none")]  # fmt: skip
    for entry in body["trail"]:
        refused = f"  REFUSED {entry['refused']}" if entry["refused"] else ""
        lines.append(f"  {entry['at']}  {entry['kind']:8} {entry['actor']}  {entry['vote'] or ''} "
                     f"{entry['comment'] or ''}{refused}")  # fmt: skip
    return "\n".join(lines)
