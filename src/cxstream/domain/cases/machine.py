"""Follow-up cases: every escalated breach opens one, and it must end in a documented action, on time.

A pure state machine. :func:`apply` takes the current case (or None) and one action and returns the new case,
or raises :class:`Refused` with a rule id and a message when the action is not allowed in that state or
lacks what it must carry. Nothing else changes a case, so every case state is reachable only through its
recorded actions (the audit trail on ``cx.case-actions``).

    OPEN --ACKNOWLEDGE--> ACKNOWLEDGED --DOCUMENT_ACTION--> ACTION_DOCUMENTED --RESOLVE--> RESOLVED --CLOSE--> CLOSED
      ^                                                                                      |                |
      +----------------------- REOPENED <------------------------- REOPEN -------------------+----------------+

Resolving needs a root-cause category (and a code of the declared taxonomy, when one is given), the action taken
and its owner (given then or documented before), and the outcome of a pending customer call-back. Closing a
recurring case needs a supervisor's documented action (role ``supervisor`` and a comment). ASSIGN, COMMENT,
FOLLOW_UP and the system's OVERDUE (SLA timer), ESCALATE (a ladder level paged) and FLAG_RECURRING (recurrence
index) change no state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import Field, field_validator

from cxstream.domain.base import (
    JsonObject,
    Record,
    Strict,
    as_int,
    as_str,
    as_time,
    digest,
    obj,
    opt_int,
    opt_str,
    opt_time,
    str_list,
    text_map,
    to_ms,
)
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.remediation.causes import RootCauses


class CaseState(StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ACTION_DOCUMENTED = "ACTION_DOCUMENTED"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    REOPENED = "REOPENED"


class ActionType(StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGE = "ACKNOWLEDGE"
    ASSIGN = "ASSIGN"
    DOCUMENT_ACTION = "DOCUMENT_ACTION"
    RESOLVE = "RESOLVE"
    CLOSE = "CLOSE"
    REOPEN = "REOPEN"
    COMMENT = "COMMENT"
    FOLLOW_UP = "FOLLOW_UP"
    OVERDUE = "OVERDUE"
    ESCALATE = "ESCALATE"
    FLAG_RECURRING = "FLAG_RECURRING"
    CONTAIN = "CONTAIN"  # what was done for the customer now (speed), before the why is known
    INVESTIGATE = "INVESTIGATE"  # the why goes to the remediation backlog: an item, with its own SLA (depth)
    CONCLUDE = "CONCLUDE"  # the investigation found the root cause


#: Which state each state-changing action needs, and where it leads.
TRANSITIONS: dict[ActionType, tuple[frozenset[CaseState], CaseState]] = {
    ActionType.ACKNOWLEDGE: (frozenset({CaseState.OPEN, CaseState.REOPENED}), CaseState.ACKNOWLEDGED),
    ActionType.DOCUMENT_ACTION: (
        frozenset({CaseState.ACKNOWLEDGED, CaseState.ACTION_DOCUMENTED}),
        CaseState.ACTION_DOCUMENTED,
    ),
    ActionType.RESOLVE: (frozenset({CaseState.ACTION_DOCUMENTED}), CaseState.RESOLVED),
    ActionType.CLOSE: (frozenset({CaseState.RESOLVED}), CaseState.CLOSED),
    ActionType.REOPEN: (frozenset({CaseState.RESOLVED, CaseState.CLOSED}), CaseState.REOPENED),
}
DONE = frozenset({CaseState.RESOLVED, CaseState.CLOSED})
SUPERVISOR = "supervisor"
SLA_TIMER = "timer:sla"
#: Actions only cxstream itself records (actor prefix ``timer:`` or ``system:``).
SYSTEM_ACTIONS = frozenset({ActionType.OVERDUE, ActionType.ESCALATE, ActionType.FLAG_RECURRING})
DEPTH_ACTIONS = frozenset({ActionType.CONTAIN, ActionType.INVESTIGATE, ActionType.CONCLUDE})
REMEMBERED_ACTIONS = 64  # action ids kept per case, so an action replayed after a crash is applied once


class Refused(ValueError):
    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id = rule_id
        self.message = message


class Sla(Strict):
    acknowledge: str = Field(description="acknowledge within this after the case opens (or reopens)")
    resolve: str = Field(description="resolve within this after the case opens (or reopens)")
    contain: str | None = Field(None, description="contain (do something for the customer now) within this after "
                                                  "the case opens; none: no containment step")  # fmt: skip
    investigate: str | None = Field(None, description="conclude a linked investigation within this after it is "
                                                      "linked; none: no deadline")  # fmt: skip

    @field_validator("acknowledge", "resolve", "contain", "investigate")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and parse_duration_ms(value) <= 0:
            raise ValueError("must be positive")
        return value


class CasePolicy(Strict):
    """``cases:`` in the topology: SLA per severity, the call-back step of hot alerts, recurrence window."""

    sla: dict[str, Sla] = Field(
        default_factory=lambda: {
            "CRITICAL": Sla(acknowledge="15m", resolve="1d"),
            "WARNING": Sla(acknowledge="2h", resolve="3d"),
        },
        description="per severity: WARNING, CRITICAL (INFO optional)",
    )
    follow_up_within: str = Field("48h", description="hot-alert cases: call the customer back within this")
    recurring_within: str = Field("30d", description="same customer, or same driver at the same site, again")
    check_every: str = Field("15s", description="how often open cases are checked against their SLA")

    @field_validator("follow_up_within", "recurring_within", "check_every")
    @classmethod
    def _positive(cls, value: str) -> str:
        if parse_duration_ms(value) <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("sla")
    @classmethod
    def _severities(cls, value: dict[str, Sla]) -> dict[str, Sla]:
        unknown = set(value) - {"INFO", "WARNING", "CRITICAL"}
        if unknown:
            raise ValueError(f"unknown severity {sorted(unknown)[0]!r} (INFO, WARNING, CRITICAL)")
        if not {"WARNING", "CRITICAL"} <= set(value):
            raise ValueError("set an SLA for WARNING and CRITICAL")
        return value

    def sla_for(self, severity: str) -> Sla:
        return self.sla.get(severity) or self.sla["WARNING"]


@dataclass(frozen=True)
class Action:
    action_id: str
    case_id: str
    action: ActionType
    actor: str
    at_ms: int
    comment: str | None = None
    assignee: str | None = None
    root_cause_category: str | None = None
    action_taken: str | None = None
    action_owner: str | None = None
    outcome: str | None = None
    role: str | None = None
    root_cause_code: str | None = None  # a code of the declared taxonomy (remediation.root_causes)
    # OPEN only: what the case is about
    breach_id: str | None = None
    escalation_id: str | None = None
    team: str | None = None
    severity: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    follow_up: bool = False  # a hot alert: the customer must be called back
    item_id: str | None = None  # INVESTIGATE: the remediation item that carries the investigation


@dataclass(frozen=True)
class Case:
    case_id: str
    team: str
    severity: str
    state: CaseState
    opened_ms: int
    acknowledge_due_ms: int
    resolve_due_ms: int
    updated_ms: int
    breach_id: str | None = None
    escalation_ids: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    acknowledged_ms: int | None = None
    resolved_ms: int | None = None
    closed_ms: int | None = None
    assignee: str | None = None
    root_cause_category: str | None = None
    action_taken: str | None = None
    action_owner: str | None = None
    recurring: bool = False
    root_cause_code: str | None = None
    follow_up_due_ms: int | None = None
    follow_up_outcome: str | None = None
    overdue: tuple[str, ...] = ()  # which SLA steps went overdue: acknowledge, resolve, follow_up
    ladder_level: int = 0  # the highest escalation level paged for it
    contain_due_ms: int | None = None  # speed: when the customer must have had something done for them
    contained_ms: int | None = None
    containment: str | None = None  # what was done for the customer now
    investigation_item: str | None = None  # depth: the remediation item that carries the why
    investigation_due_ms: int | None = None
    investigation_concluded_ms: int | None = None
    version: int = 0
    last_action_id: str | None = None
    applied: tuple[str, ...] = ()

    @property
    def documented(self) -> bool:
        return bool(self.root_cause_category and self.action_taken and self.action_owner)

    @property
    def contained_and_investigating(self) -> bool:
        """Contained for the customer with the why handed to an investigation: resolvable before the root cause
        is known (the investigation keeps its own deadline)."""
        return self.contained_ms is not None and self.investigation_item is not None


def _need(value: str | None, rule: str, what: str) -> str:
    if value is None or not value.strip():
        raise Refused(rule, f"{what} is required")
    return value.strip()


def _open(action: Action, policy: CasePolicy) -> Case:
    team = _need(action.team, "case.open_team", "the owning team")
    severity = action.severity or "WARNING"
    sla = policy.sla_for(severity)
    at = action.at_ms
    return Case(
        case_id=action.case_id,
        team=team,
        severity=severity,
        state=CaseState.OPEN,
        opened_ms=at,
        acknowledge_due_ms=at + parse_duration_ms(sla.acknowledge),
        resolve_due_ms=at + parse_duration_ms(sla.resolve),
        updated_ms=at,
        breach_id=action.breach_id,
        escalation_ids=(action.escalation_id,) if action.escalation_id else (),
        labels=dict(action.labels),
        follow_up_due_ms=at + parse_duration_ms(policy.follow_up_within) if action.follow_up else None,
        contain_due_ms=at + parse_duration_ms(sla.contain) if sla.contain else None,
    )


def apply(case: Case | None, action: Action, policy: CasePolicy, causes: RootCauses | None = None) -> Case:
    """The case after ``action``; raises :class:`Refused` when the action is not allowed. With a root-cause
    taxonomy (``causes``), a cause code must come from it, and resolving needs one when the taxonomy says so."""
    if causes is not None and action.root_cause_code is not None and causes.find(action.root_cause_code) is None:
        raise Refused("case.root_cause_code", causes.check(action.root_cause_code) or "unknown root-cause code")
    if case is not None and action.action_id in case.applied:
        return case  # the same action again (replayed after a crash): applied once
    kind = action.action
    if case is None:
        if kind is not ActionType.OPEN:
            raise Refused("case.unknown", f"no case {action.case_id}: it must be opened by an escalation first")
        return _stamp(_open(action, policy), action)
    if kind is ActionType.OPEN:  # another escalation for the same breach attaches to its case
        ids = case.escalation_ids
        if action.escalation_id and action.escalation_id not in ids:
            ids = (*ids, action.escalation_id)
        return _stamp(replace(case, escalation_ids=ids), action)
    if kind in TRANSITIONS:
        allowed, target = TRANSITIONS[kind]
        if case.state not in allowed:
            names = ", ".join(sorted(s.value for s in allowed))
            raise Refused("case.transition", f"{kind.value} needs the case in {names}; it is {case.state.value}")
        after = _transition(case, action, target, policy)
        pending = after.investigation_item is not None and after.investigation_concluded_ms is None
        problem = causes.check(after.root_cause_code) if kind is ActionType.RESOLVE and causes and not pending else None
        if problem:
            raise Refused("case.root_cause_code", problem)
        return _stamp(after, action)
    if kind in DEPTH_ACTIONS:
        return _stamp(_depth(case, action, policy), action)
    return _stamp(_annotate(case, action), action)


def _transition(case: Case, action: Action, target: CaseState, policy: CasePolicy) -> Case:
    kind, at = action.action, action.at_ms
    if kind is ActionType.ACKNOWLEDGE:
        return replace(case, state=target, acknowledged_ms=at, assignee=action.assignee or case.assignee)
    if kind is ActionType.DOCUMENT_ACTION:
        return replace(
            case,
            state=target,
            action_taken=_need(action.action_taken, "case.action_taken", "the action taken"),
            action_owner=_need(action.action_owner, "case.action_owner", "the action's owner"),
            root_cause_category=action.root_cause_category or case.root_cause_category,
            root_cause_code=action.root_cause_code or case.root_cause_code,
        )
    if kind is ActionType.RESOLVE and case.contained_and_investigating and not _documents(action, case):
        # speed without losing depth: contained for the customer, the why open on the backlog with its own SLA
        if case.follow_up_due_ms is not None and case.follow_up_outcome is None:
            raise Refused("case.follow_up", "the customer call-back has no outcome yet (FOLLOW_UP with an outcome)")
        return replace(case, state=target, resolved_ms=at, action_taken=case.action_taken or case.containment,
                       action_owner=case.action_owner or action.actor)  # fmt: skip
    if kind is ActionType.RESOLVE:
        resolved = replace(
            case,
            state=target,
            resolved_ms=at,
            root_cause_category=_need(
                action.root_cause_category or case.root_cause_category, "case.root_cause", "a root-cause category"
            ),
            action_taken=_need(action.action_taken or case.action_taken, "case.action_taken", "the action taken"),
            action_owner=_need(action.action_owner or case.action_owner, "case.action_owner", "the action's owner"),
            root_cause_code=action.root_cause_code or case.root_cause_code,
        )
        if case.follow_up_due_ms is not None and case.follow_up_outcome is None:
            raise Refused("case.follow_up", "the customer call-back has no outcome yet (FOLLOW_UP with an outcome)")
        return resolved
    if kind is ActionType.CLOSE:
        if case.recurring and (action.role != SUPERVISOR or not (action.comment or "").strip()):
            raise Refused("case.recurring", "a recurring case closes only with a supervisor's documented action")
        return replace(case, state=target, closed_ms=at)
    # REOPEN: the clock starts again, the earlier documentation stays in the audit trail only
    _need(action.comment, "case.reopen_reason", "a reason to reopen")
    sla = policy.sla_for(case.severity)
    return replace(
        case,
        state=target,
        acknowledged_ms=None,
        resolved_ms=None,
        closed_ms=None,
        root_cause_category=None,
        root_cause_code=None,
        action_taken=None,
        action_owner=None,
        acknowledge_due_ms=at + parse_duration_ms(sla.acknowledge),
        resolve_due_ms=at + parse_duration_ms(sla.resolve),
        contain_due_ms=at + parse_duration_ms(sla.contain) if sla.contain else None,
        contained_ms=None,
        containment=None,
        overdue=tuple(s for s in case.overdue if s == "investigate"),  # the investigation keeps its deadline
    )


def _documents(action: Action, case: Case) -> bool:
    """Whether a RESOLVE brings (or finds) the full documentation: root cause, action and owner."""
    return bool((action.root_cause_category or case.root_cause_category) and (action.action_taken or case.action_taken)
                and (action.action_owner or case.action_owner))  # fmt: skip


def _depth(case: Case, action: Action, policy: CasePolicy) -> Case:
    """CONTAIN, INVESTIGATE and CONCLUDE: speed and depth as separate steps with separate deadlines."""
    kind, at = action.action, action.at_ms
    if kind is ActionType.CONTAIN:
        if case.state not in (CaseState.ACKNOWLEDGED, CaseState.ACTION_DOCUMENTED):
            raise Refused("case.transition", f"CONTAIN needs the case acknowledged; it is {case.state.value}")
        what = _need(action.action_taken, "case.containment", "what was done for the customer (action_taken)")
        # containment is an action taken: the case counts as documented (the root cause may come later)
        return replace(case, state=CaseState.ACTION_DOCUMENTED, contained_ms=case.contained_ms or at,
                       containment=what, action_taken=case.action_taken or what,
                       action_owner=case.action_owner or action.actor)  # fmt: skip
    if kind is ActionType.INVESTIGATE:
        if case.state is CaseState.CLOSED:
            raise Refused("case.transition", "a closed case takes no investigation; reopen it first")
        item = _need(action.item_id, "case.investigation_item", "the remediation item that carries the investigation")
        sla = policy.sla_for(case.severity).investigate
        return replace(case, investigation_item=item, investigation_due_ms=at + parse_duration_ms(sla) if sla else None,
                       investigation_concluded_ms=None)  # fmt: skip
    if case.investigation_item is None:
        raise Refused("case.investigation", "no investigation is linked (INVESTIGATE with an item first)")
    if case.investigation_concluded_ms is not None:
        raise Refused("case.investigation", "the investigation is concluded already")
    category = _need(action.root_cause_category or action.root_cause_code, "case.root_cause", "the root cause found")
    return replace(case, investigation_concluded_ms=at, root_cause_category=action.root_cause_category or category,
                   root_cause_code=action.root_cause_code or case.root_cause_code)  # fmt: skip


def _annotate(case: Case, action: Action) -> Case:
    kind = action.action
    if kind is ActionType.ASSIGN:
        if case.state is CaseState.CLOSED:
            raise Refused("case.transition", "a closed case is not assigned; reopen it first")
        return replace(case, assignee=_need(action.assignee, "case.assignee", "the assignee"))
    if kind is ActionType.COMMENT:
        _need(action.comment, "case.comment", "the comment")
        return case
    if kind is ActionType.FOLLOW_UP:
        if case.follow_up_due_ms is None:
            raise Refused("case.follow_up", "this case has no customer call-back step")
        if case.state is CaseState.CLOSED:
            raise Refused("case.transition", "a closed case takes no follow-up; reopen it first")
        return replace(case, follow_up_outcome=_need(action.outcome, "case.follow_up", "the call-back outcome"))
    if not action.actor.startswith(("timer:", "system:")):
        raise Refused(f"case.{kind.value.lower()}", f"{kind.value} is recorded by cxstream itself, not by a person")
    if kind is ActionType.ESCALATE:
        level = int(action.labels.get("level", "0"))
        return replace(case, ladder_level=max(case.ladder_level, level))
    if kind is ActionType.FLAG_RECURRING:
        return replace(case, recurring=True)
    # OVERDUE: recorded by the SLA timer
    step = _need(action.comment, "case.overdue", "the overdue step")
    return case if step in case.overdue else replace(case, overdue=(*case.overdue, step))


def _stamp(case: Case, action: Action) -> Case:
    return replace(
        case,
        version=case.version + 1,
        last_action_id=action.action_id,
        updated_ms=max(case.updated_ms, action.at_ms),
        applied=(*case.applied, action.action_id)[-REMEMBERED_ACTIONS:],
    )


def selected(
    case: Case, *, open_only: bool = False, state: str | None = None, team: str | None = None,
    severity: str | None = None,
) -> bool:  # fmt: skip
    """Whether a list of cases (API, command line) keeps this one: open cases only (not resolved or closed), and
    the given state, team and severity; an unset filter keeps all."""
    if open_only and case.state in DONE:
        return False
    wanted = ((state, case.state.value), (team, case.team), (severity, case.severity))
    return all(not asked or asked == value for asked, value in wanted)


def due_steps(case: Case, now_ms: int) -> list[str]:
    """SLA steps past due and not yet recorded overdue: acknowledge, resolve, follow_up, contain, investigate."""
    return [step for step, _ in _due(case, now_ms)]


def _due(case: Case, now_ms: int) -> list[tuple[str, int]]:
    steps = []
    if case.state in (CaseState.OPEN, CaseState.REOPENED) and now_ms >= case.acknowledge_due_ms:
        steps.append(("acknowledge", case.acknowledge_due_ms))
    if case.state not in DONE and now_ms >= case.resolve_due_ms:
        steps.append(("resolve", case.resolve_due_ms))
    if (
        case.follow_up_due_ms is not None
        and case.follow_up_outcome is None
        and case.state is not CaseState.CLOSED
        and now_ms >= case.follow_up_due_ms
    ):
        steps.append(("follow_up", case.follow_up_due_ms))
    if (case.contain_due_ms is not None and case.contained_ms is None and case.state not in DONE
            and now_ms >= case.contain_due_ms):  # fmt: skip
        steps.append(("contain", case.contain_due_ms))
    if (case.investigation_due_ms is not None and case.investigation_concluded_ms is None
            and now_ms >= case.investigation_due_ms):  # fmt: skip
        steps.append(("investigate", case.investigation_due_ms))
    return [(s, due) for s, due in steps if s not in case.overdue]


def overdue_actions(case: Case, now_ms: int) -> list[Action]:
    """The OVERDUE actions the SLA timer records for ``case`` at ``now_ms``: one per step past due, dated when
    it fell due. The id comes from case, step and due time, so a check repeated (several workers, a restart)
    records it once, and a reopened case that misses its new deadline gets a new one."""
    return [
        Action(
            action_id=f"act-{digest(f'overdue|{case.case_id}|{step}|{due_ms}')}",
            case_id=case.case_id,
            action=ActionType.OVERDUE,
            actor=SLA_TIMER,
            at_ms=due_ms,
            comment=step,
            breach_id=case.breach_id,
            team=case.team,
            severity=case.severity,
            labels=dict(case.labels),
        )
        for step, due_ms in _due(case, now_ms)
    ]


# --- records --------------------------------------------------------------------------------------------------


def _ms(value: object) -> int:
    return to_ms(as_time(value, "timestamp"))


def action_from_record(record: Mapping[str, object]) -> Action:
    """A ``cx.case-actions`` record (schema ``cxstream.CaseAction``) as an :class:`Action`."""

    def text(name: str) -> str | None:
        return opt_str(record.get(name), name)

    return Action(
        action_id=as_str(record["action_id"], "action_id"),
        case_id=as_str(record["case_id"], "case_id"),
        action=ActionType(as_str(record["action"], "action")),
        actor=as_str(record["actor"], "actor"),
        at_ms=_ms(record["at"]),
        comment=text("comment"),
        assignee=text("assignee"),
        root_cause_category=text("root_cause_category"),
        action_taken=text("action_taken"),
        action_owner=text("action_owner"),
        outcome=text("outcome"),
        role=text("role"),
        breach_id=text("breach_id"),
        escalation_id=text("escalation_id"),
        team=text("team"),
        severity=text("severity"),
        labels=text_map(record.get("labels"), "labels"),
        follow_up=bool(record.get("follow_up", False)),
        root_cause_code=text("root_cause_code"),
        item_id=text("item_id"),
    )


def action_record(action: Action) -> dict[str, object]:
    return {
        "action_id": action.action_id, "case_id": action.case_id, "action": action.action.value,
        "actor": action.actor, "at": datetime.fromtimestamp(action.at_ms / 1000, UTC), "comment": action.comment,
        "assignee": action.assignee, "root_cause_category": action.root_cause_category,
        "action_taken": action.action_taken, "action_owner": action.action_owner, "outcome": action.outcome,
        "role": action.role, "breach_id": action.breach_id, "escalation_id": action.escalation_id,
        "team": action.team, "severity": action.severity, "labels": dict(action.labels),
        "follow_up": action.follow_up, "root_cause_code": action.root_cause_code, "item_id": action.item_id,
    }  # fmt: skip


def case_to_json(case: Case) -> JsonObject:
    return {
        **{name: getattr(case, name) for name in Case.__dataclass_fields__},
        "state": case.state.value,
        "labels": dict(case.labels),
        "escalation_ids": list(case.escalation_ids),
        "overdue": list(case.overdue),
        "applied": list(case.applied),
    }


def case_from_json(data: Mapping[str, object]) -> Case:
    """A case as :func:`case_to_json` stored it (every field by name, typed)."""

    def text(name: str) -> str | None:
        return opt_str(data.get(name), name)

    def ms(name: str) -> int | None:
        return opt_int(data.get(name), name)

    return Case(
        case_id=as_str(data["case_id"], "case_id"),
        team=as_str(data["team"], "team"),
        severity=as_str(data["severity"], "severity"),
        state=CaseState(as_str(data["state"], "state")),
        opened_ms=as_int(data["opened_ms"], "opened_ms"),
        acknowledge_due_ms=as_int(data["acknowledge_due_ms"], "acknowledge_due_ms"),
        resolve_due_ms=as_int(data["resolve_due_ms"], "resolve_due_ms"),
        updated_ms=as_int(data["updated_ms"], "updated_ms"),
        breach_id=text("breach_id"),
        escalation_ids=str_list(data.get("escalation_ids"), "escalation_ids"),
        labels=text_map(data.get("labels"), "labels"),
        acknowledged_ms=ms("acknowledged_ms"),
        resolved_ms=ms("resolved_ms"),
        closed_ms=ms("closed_ms"),
        assignee=text("assignee"),
        root_cause_category=text("root_cause_category"),
        action_taken=text("action_taken"),
        action_owner=text("action_owner"),
        recurring=bool(data.get("recurring")),
        follow_up_due_ms=ms("follow_up_due_ms"),
        follow_up_outcome=text("follow_up_outcome"),
        overdue=str_list(data.get("overdue"), "overdue"),
        ladder_level=as_int(data.get("ladder_level") or 0, "ladder_level"),
        version=as_int(data.get("version") or 0, "version"),
        last_action_id=text("last_action_id"),
        applied=str_list(data.get("applied"), "applied"),
        root_cause_code=text("root_cause_code"),
        contain_due_ms=ms("contain_due_ms"),
        contained_ms=ms("contained_ms"),
        containment=text("containment"),
        investigation_item=text("investigation_item"),
        investigation_due_ms=ms("investigation_due_ms"),
        investigation_concluded_ms=ms("investigation_concluded_ms"),
    )


PARTITION_FIELD = "_partition"  # kept with each stored case: which partition of the cases table holds it


@dataclass(frozen=True)
class StoredCase:
    """A case as the cases table holds it: the case and the table partition it lives on (a worker serves the
    cases of the partitions it holds as their active owner). Stored as the case's JSON plus ``_partition``."""

    case: Case
    partition: int

    def to_json(self) -> JsonObject:
        return {**case_to_json(self.case), PARTITION_FIELD: self.partition}

    @classmethod
    def from_json(cls, data: object) -> StoredCase:
        value = obj(data, "stored case")
        return cls(case_from_json(value), as_int(value.get(PARTITION_FIELD, -1)))


def case_record(case: Case) -> Record:
    """The ``cx.cases`` record (schema ``cxstream.Case``): the current state of one case."""

    def at(ms: int | None) -> datetime | None:
        return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)

    return {
        "case_id": case.case_id, "breach_id": case.breach_id, "escalation_ids": list(case.escalation_ids),
        "team": case.team, "state": case.state.value, "severity": case.severity, "labels": dict(case.labels),
        "opened_at": at(case.opened_ms), "acknowledge_due_at": at(case.acknowledge_due_ms),
        "resolve_due_at": at(case.resolve_due_ms), "acknowledged_at": at(case.acknowledged_ms),
        "resolved_at": at(case.resolved_ms), "closed_at": at(case.closed_ms), "assignee": case.assignee,
        "root_cause_category": case.root_cause_category, "action_taken": case.action_taken,
        "action_owner": case.action_owner, "recurring": case.recurring,
        "follow_up_due_at": at(case.follow_up_due_ms), "follow_up_outcome": case.follow_up_outcome,
        "overdue": list(case.overdue), "ladder_level": case.ladder_level,
        "last_action_id": case.last_action_id, "version": case.version, "updated_at": at(case.updated_ms),
        "root_cause_code": case.root_cause_code, "contain_due_at": at(case.contain_due_ms),
        "contained_at": at(case.contained_ms), "containment": case.containment,
        "investigation_item": case.investigation_item, "investigation_due_at": at(case.investigation_due_ms),
        "investigation_concluded_at": at(case.investigation_concluded_ms),
    }  # fmt: skip


def case_from_record(record: Mapping[str, object]) -> Case:
    """A ``cx.cases`` record back as a :class:`Case` (for checking an action before it is sent): the record's
    ``<step>_at`` timestamps are the case's ``<step>_ms``, the rest reads as :func:`case_from_json` reads."""
    values: dict[str, object] = {}
    for name, value in record.items():
        if name.endswith("_at"):
            at = opt_time(value, name)
            values[name.removesuffix("_at") + "_ms"] = None if at is None else _ms(at)
        else:
            values[name] = value
    for due in ("acknowledge_due_ms", "resolve_due_ms"):
        values[due] = values.get(due) or 0
    return case_from_json(values)


def latest_cases(records: Iterable[Mapping[str, object]]) -> dict[str, Mapping[str, object]]:
    """The newest ``cx.cases`` record per case (highest version): the topic is compacted on Kafka, not on
    every broker, so readers fold it themselves."""
    found: dict[str, Mapping[str, object]] = {}
    for record in records:
        case_id = as_str(record["case_id"], "case_id")
        known = found.get(case_id)
        if known is None or as_int(record["version"], "version") >= as_int(known["version"], "version"):
            found[case_id] = record
    return found
