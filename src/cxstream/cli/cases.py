"""``cxstream cases``: list and show follow-up cases, and record what people did on ``cx.case-actions``.

Each action is checked against the case's current state (folded from ``cx.cases``) with the same state machine
the workers apply, so a refused action is explained at once and not sent; the worker stays the authority (an
action that races another one can still be refused there and lands on ``cx.dlq`` with its rule)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from cxstream.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    at_text,
    author,
    cluster,
    fail,
)
from cxstream.domain.base import to_ms
from cxstream.domain.catalog import Topics
from cxstream.settings import Settings

CASES_TOPIC = Topics.CASES
CASE_ACTIONS_TOPIC = Topics.CASE_ACTIONS
#: subcommand -> action type, and what each one says when it was sent
ACTIONS = {
    "ack": ("ACKNOWLEDGE", "acknowledged by {actor}; its escalation ladder stops"),
    "assign": ("ASSIGN", "assigned by {actor}"),
    "document": ("DOCUMENT_ACTION", "action documented by {actor}"),
    "follow-up": ("FOLLOW_UP", "call-back outcome recorded by {actor}"),
    "resolve": ("RESOLVE", "resolved by {actor}"),
    "close": ("CLOSE", "closed by {actor}"),
    "reopen": ("REOPEN", "reopened by {actor}; its SLA clock starts again"),
    "comment": ("COMMENT", "comment added by {actor}"),
    "contain": ("CONTAIN", "contained by {actor}: done for the customer now"),
    "investigate": ("INVESTIGATE", "investigation linked by {actor}; it keeps its own deadline"),
    "conclude": ("CONCLUDE", "investigation concluded by {actor}"),
}


def _case_id(target: str) -> str | None:
    from cxstream.domain.alerting.desk import case_id_for

    case_id = case_id_for(target) if target.startswith("br-") else target
    return case_id if re.fullmatch(r"case-[0-9a-f]{20}", case_id) else None


def _due(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "-"
    minutes = (ms - now_ms) // 60_000
    return f"in {minutes}m" if minutes >= 0 else f"{-minutes}m late"


def cmd_cases(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.cases.machine import DONE, case_from_record, latest_cases, selected
    from cxstream.kafka.tools import read_decoded

    reached = cluster(settings, "cases")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    now = datetime.now(UTC)
    records, bad = asyncio.run(read_decoded(options, ctx.codec(CASES_TOPIC), CASES_TOPIC))
    current = latest_cases(records)
    if args.action == "list":
        shown = [case_from_record(r) for r in current.values()]
        shown = [c for c in shown if selected(c, open_only=not args.all, team=args.team)]
        if not shown:
            print("no open cases" + ("" if args.all else " (--all shows resolved and closed ones)"))
        else:
            now_ms = to_ms(now)
            print(f"{'case':26} {'state':18} {'severity':9} {'team':18} {'ack due':11} {'resolve due':12} flags")
            for c in sorted(shown, key=lambda c: c.opened_ms):
                flags = [f"overdue:{s}" for s in c.overdue] + (["recurring"] if c.recurring else [])
                flags += [f"level:{c.ladder_level}"] if c.ladder_level else []
                ack = _due(c.acknowledge_due_ms, now_ms) if c.acknowledged_ms is None else "done"
                fix = _due(c.resolve_due_ms, now_ms) if c.state not in DONE else "done"
                print(f"{c.case_id:26} {c.state.value:18} {c.severity:9} {c.team[:18]:18} {ack:11} {fix:12} "
                      f"{' '.join(flags)}")  # fmt: skip
        if bad:
            print(f"{bad} messages on {CASES_TOPIC} did not decode as Case records")
        return EXIT_OK
    case_id = _case_id(args.id)
    if case_id is None:
        return fail(f"{args.id!r} is neither a breach id (br-...) nor a case id (case-...)", EXIT_CONFIG)
    if args.action == "show":
        return _show(ctx, options, case_id, current.get(case_id))
    return _act(ctx, options, args, case_id, current.get(case_id), now)


def _show(ctx: Any, options: dict[str, Any], case_id: str, record: Any) -> int:
    from cxstream.domain.base import from_ms
    from cxstream.domain.cases.machine import action_from_record
    from cxstream.kafka.tools import read_decoded

    if record is None:
        return fail(f"no case {case_id} on {CASES_TOPIC}", EXIT_FAILED)
    keys = ("state", "severity", "team", "breach_id", "assignee", "root_cause_category", "root_cause_code",
            "action_taken", "action_owner", "recurring", "overdue", "ladder_level", "follow_up_outcome",
            "containment", "investigation_item")  # fmt: skip
    print(case_id)
    for key in keys:
        print(f"  {key:20} {record.get(key)}")
    for key in (
        "opened_at",
        "acknowledge_due_at",
        "contain_due_at",
        "contained_at",
        "resolve_due_at",
        "follow_up_due_at",
        "resolved_at",
        "closed_at",
        "investigation_due_at",
        "investigation_concluded_at",
    ):
        if record.get(key) is not None:
            print(f"  {key:20} {at_text(record[key])}")
    records, _ = asyncio.run(read_decoded(options, ctx.codec(CASE_ACTIONS_TOPIC), CASE_ACTIONS_TOPIC))
    actions = [action_from_record(r) for r in records]
    history = sorted((a for a in actions if a.case_id == case_id), key=lambda a: a.at_ms)
    print(f"history ({len(history)} actions on {CASE_ACTIONS_TOPIC}):")
    for a in history:
        detail = a.comment or a.action_taken or a.outcome or a.assignee or ""
        print(f"  {at_text(from_ms(a.at_ms))}  {a.action.value:16} {a.actor[:20]:20} {detail}")
    return EXIT_OK


def _act(ctx: Any, options: dict[str, Any], args: argparse.Namespace, case_id: str, record: Any, now: datetime) -> int:
    from cxstream.domain.cases.machine import Action, ActionType, Refused, action_record, apply, case_from_record
    from cxstream.kafka.tools import send_records

    kind, done = ACTIONS[args.action]
    try:
        actor = author(args.author)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    digest = hashlib.sha256(f"{case_id}|{kind}|{actor}|{now.isoformat()}".encode()).hexdigest()[:16]
    action = Action(
        action_id=f"act-{digest}", case_id=case_id, action=ActionType(kind), actor=actor,
        at_ms=to_ms(now), comment=args.comment, assignee=getattr(args, "to", None),
        root_cause_category=getattr(args, "root_cause", None), action_taken=getattr(args, "action_taken", None),
        action_owner=getattr(args, "owner", None), outcome=getattr(args, "outcome", None), role=args.role,
        root_cause_code=getattr(args, "cause_code", None), item_id=getattr(args, "item", None),
    )  # fmt: skip
    if record is None:
        return fail(f"no case {case_id} on {CASES_TOPIC} yet (cases open when their breach is escalated)", EXIT_FAILED)
    try:
        remediation = ctx.topology.remediation
        causes = remediation.root_causes if remediation is not None else None
        apply(case_from_record(record), action, ctx.topology.followup.cases, causes)
    except Refused as refused:
        return fail(f"refused ({refused.rule_id}): {refused.message}", EXIT_FAILED)
    codec = ctx.codec(CASE_ACTIONS_TOPIC)
    asyncio.run(send_records(options, CASE_ACTIONS_TOPIC, [(case_id.encode(), codec.encode(action_record(action)))]))
    print(f"{case_id} {done.format(actor=actor)} ({action.action_id})")
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("cases", help="follow-up cases of breaches: list, show, and record what was done")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("list", help="open cases with their SLA deadlines")
    a.add_argument("--all", action="store_true", help="also resolved and closed cases")
    a.add_argument("--team", default=None, help="only this team's cases")
    a = actions.add_parser("show", help="one case and its history (the audit trail)")
    a.add_argument("id", help="breach id (br-...) or case id (case-...)")
    helps = {
        "ack": "acknowledge: the case is taken, its escalation ladder stops",
        "assign": "assign the case to someone",
        "document": "document the action taken and its owner",
        "follow-up": "record the outcome of the customer call-back (hot alerts)",
        "resolve": "resolve: needs root cause, action taken and owner (given now or documented before), or the case "
        "contained with an investigation linked",
        "close": "close a resolved case (a recurring one: --role supervisor and a --comment)",
        "reopen": "reopen a resolved or closed case (--comment says why)",
        "comment": "add a comment",
        "contain": "contain: what was done for the customer now (its own SLA: cases.sla.<severity>.contain)",
        "investigate": "link the investigation of why to a remediation item (its own SLA: .investigate)",
        "conclude": "the investigation found the root cause",
    }
    for name, text in helps.items():
        a = actions.add_parser(name, help=text)
        a.add_argument("id", help="breach id (br-...) or case id (case-...)")
        a.add_argument("--author", default=None, help="who does it (default the login name)")
        a.add_argument("--role", default=None, help="your role, e.g. supervisor")
        a.add_argument("--comment", default=None, required=name in {"reopen", "comment"})
        if name in {"ack", "assign"}:
            a.add_argument("--to", default=None, required=name == "assign", help="assignee")
        if name == "contain":
            a.add_argument("--action-taken", required=True, help="what was done for the customer now")
        if name == "investigate":
            a.add_argument("--item", required=True, help="the remediation item (cxstream changes list), e.g. rem-...")
        if name == "conclude":
            a.add_argument("--root-cause", default=None, help="root-cause category in words, e.g. carrier:capacity")
            a.add_argument("--cause-code", default=None, help="root-cause code of the taxonomy")
        if name in {"document", "resolve"}:
            a.add_argument("--action-taken", default=None, required=name == "document", help="what was done")
            a.add_argument("--owner", default=None, required=name == "document", help="who owns that action")
            a.add_argument("--root-cause", default=None, help="root-cause category in words, e.g. carrier:capacity")
            a.add_argument(
                "--cause-code",
                default=None,
                help="root-cause code of the taxonomy (cxstream rca causes), e.g. SUP-CARRIER-CAPACITY",
            )
        if name == "follow-up":
            a.add_argument("--outcome", required=True, help="e.g. reached, no_answer, callback_refused")
    p.set_defaults(handler=cmd_cases)


def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    """Sample planning: scopes whose survey metrics will not reach their minimum n at the current sampling."""
    from cxstream.domain.cases.sample_planning import (
        Verdict,
        answer_sighting,
        invite_sighting,
        observed_span_ms,
        plan,
        scope_histories,
    )
    from cxstream.domain.durations import format_duration_ms, parse_duration_ms
    from cxstream.domain.ingest.events import CanonicalEvent
    from cxstream.kafka.tools import read_decoded

    reached = cluster(settings, "plan")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    try:
        period_ms = parse_duration_ms(args.period)
        by = tuple(name.strip() for name in args.by.split(",") if name.strip())
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    spec = ctx.topology.metrics
    window = next((w for w in spec.windows if w.id == args.window), None)
    if window is None:
        return fail(f"no window {args.window!r} (one of: {', '.join(w.id for w in spec.windows)})", EXIT_CONFIG)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    since = now_ms - period_ms
    sent, bad_invites = asyncio.run(read_decoded(options, ctx.codec(Topics.SURVEY_INVITES), Topics.SURVEY_INVITES))
    events, bad_events = asyncio.run(read_decoded(options, ctx.codec(Topics.EVENTS), Topics.EVENTS))
    invites = [sighting for sighting in (invite_sighting(r) for r in sent) if sighting.at_ms >= since]
    answers = [
        sighting for sighting in (answer_sighting(CanonicalEvent.from_record(e)) for e in events)
        if sighting is not None and sighting.at_ms >= since
    ]  # fmt: skip
    span_ms = observed_span_ms([*invites, *answers], period_ms, now_ms)
    print(f"sample plan: the last {args.period} ({len(invites)} invites sent, {len(answers)} answers), "
          f"per {args.window} window, scope by {', '.join(by) or 'nothing'}")  # fmt: skip
    window_ms = parse_duration_ms(window.size)
    if span_ms < period_ms:
        print(f"data covers {format_duration_ms(span_ms)} of the {args.period} asked (from the first invite or "
              "answer): rates are per that span")  # fmt: skip
    if span_ms < window_ms:
        print(f"warning: less data than one {args.window} window; the plan extrapolates "
              f"{format_duration_ms(span_ms)} to a whole window and is rough")  # fmt: skip
    short = 0
    for definition in spec.definitions:
        histories = scope_histories(definition, invites, answers, by, span_ms, window_ms)
        if not histories:
            continue
        min_n = definition.min_n or spec.min_n
        print(f"\n{definition.id} (min n {min_n}):")
        over = [h for h in histories if h.answers > h.invites_sent > 0]
        if over:
            print(f"  note: {len(over)} scope(s) got more answers than invites in the span (answers to surveys "
                  "sent before it, or outside this policy): their rate is capped at 100%, so optimistic")  # fmt: skip
        for row in plan(histories, min_n, spec.confidence):
            short += row.verdict in (Verdict.SHORT, Verdict.AT_RISK)
            change = "" if row.change is None else f"  [{row.change:+d} invites per window]"
            print(f"  {row.describe()}{change}")
    for bad, topic in ((bad_invites, Topics.SURVEY_INVITES), (bad_events, Topics.EVENTS)):
        if bad:
            print(f"{bad} messages on {topic} did not decode")
    print(f"\n{short} scope(s) short or at risk" if short else "\nevery scope with history reaches its minimum")
    return EXIT_OK


def add_plan_parser(sub: Any) -> None:
    p = sub.add_parser("plan", help="sample planning: scopes whose survey metrics will miss their minimum n")
    p.add_argument("--period", default="7d", help="observation period for invites and answers (default 7d)")
    p.add_argument("--window", default="1d", help="the metric window to plan for (default 1d)")
    p.add_argument("--by", default="region", help="scope labels, comma-separated (default region)")
    p.set_defaults(handler=cmd_plan)
