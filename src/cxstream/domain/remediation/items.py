"""Remediation items: a recurring problem, its analysis, the change that should fix it, the approvals that change
needs, its rollout per site or team, and the verdict. A pure state machine over the actions recorded on
``cx.remediation`` (the audit trail), like cases:

    PROPOSED --ANALYSE/SET_CHANGE--> ANALYSED --APPROVE (every required department)--> APPROVED --START--> IN_PROGRESS
    IN_PROGRESS/APPROVED --ROLL_OUT--> ROLLED_OUT --VERIFY--> VERIFIED
                                                  --FAIL--> FAILED --REOPEN/ANALYSE/SET_CHANGE--> ANALYSED
    any open state --DROP--> DROPPED --REOPEN--> ANALYSED

Change control: the required approvers follow from the change (every touched department's owner; the
regulated approver, e.g. compliance, when the change has regulatory impact). An approval is the action of an
admin or of a supervisor of the department's owning team; a change with an unmitigated failure mode of high
action priority (FMEA) cannot be approved; a changed change needs its approvals again; nothing is rolled out
before the approvals are complete. VERIFY and FAIL are recorded by cxstream's verdict only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.domain.remediation.fmea import FailureMode, unmitigated
from cxstream.domain.remediation.priority import Impact, Priority, priority
from cxstream.domain.remediation.spec import Remediation

VERDICT = "system:verdict"
RECURRENCE = "system:recurrence"
#: where a person's proposal comes from: their own finding, a driver that moved, a fault tree's cut set
PERSON_SOURCES = ("manual", "driver", "cut-set")
REMEMBERED_ACTIONS = 256


class ItemState(StrEnum):
    PROPOSED = "PROPOSED"
    ANALYSED = "ANALYSED"
    APPROVED = "APPROVED"
    IN_PROGRESS = "IN_PROGRESS"
    ROLLED_OUT = "ROLLED_OUT"
    VERIFIED = "VERIFIED"
    FAILED = "FAILED"
    DROPPED = "DROPPED"


class ItemAction(StrEnum):
    PROPOSE = "PROPOSE"
    ANALYSE = "ANALYSE"
    SET_CHANGE = "SET_CHANGE"
    APPROVE = "APPROVE"
    REFUSE = "REFUSE"
    START = "START"
    ROLL_OUT = "ROLL_OUT"
    VERIFY = "VERIFY"
    FAIL = "FAIL"
    REOPEN = "REOPEN"
    DROP = "DROP"
    COMMENT = "COMMENT"
    REPRIORITISE = "REPRIORITISE"


S = ItemState
#: the states each state-changing action needs
ALLOWED: dict[ItemAction, frozenset[ItemState]] = {
    ItemAction.ANALYSE: frozenset({S.PROPOSED, S.ANALYSED, S.FAILED}),
    ItemAction.SET_CHANGE: frozenset({S.PROPOSED, S.ANALYSED, S.APPROVED, S.FAILED}),
    ItemAction.APPROVE: frozenset({S.ANALYSED, S.APPROVED}),
    ItemAction.REFUSE: frozenset({S.ANALYSED, S.APPROVED}),
    ItemAction.START: frozenset({S.APPROVED}),
    ItemAction.ROLL_OUT: frozenset({S.APPROVED, S.IN_PROGRESS, S.ROLLED_OUT}),
    ItemAction.VERIFY: frozenset({S.ROLLED_OUT}),
    ItemAction.FAIL: frozenset({S.ROLLED_OUT}),
    ItemAction.REOPEN: frozenset({S.FAILED, S.VERIFIED, S.DROPPED}),
    ItemAction.DROP: frozenset({S.PROPOSED, S.ANALYSED, S.APPROVED, S.IN_PROGRESS, S.ROLLED_OUT, S.FAILED}),
    ItemAction.REPRIORITISE: frozenset({S.PROPOSED, S.ANALYSED, S.APPROVED, S.IN_PROGRESS, S.ROLLED_OUT, S.FAILED}),
}
CLOSED = frozenset({S.VERIFIED, S.DROPPED})
#: the states of the backlog proper: still to be decided or done (FAILED: back in the backlog)
BACKLOG = frozenset({S.PROPOSED, S.ANALYSED, S.APPROVED, S.FAILED})


class Refused(ValueError):
    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id = rule_id
        self.message = message


@dataclass(frozen=True)
class Change:
    """What will be changed: the departments and processes it touches, whether it has regulatory impact, the
    procedure (playbook) version it brings, its failure modes, and the metrics it should move."""

    description: str
    departments: tuple[str, ...]
    processes: tuple[str, ...] = ()
    regulated: bool = False
    procedure: str | None = None
    procedure_version: str | None = None
    failure_modes: tuple[FailureMode, ...] = ()
    target_metrics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Approval:
    department: str
    actor: str
    at_ms: int
    approved: bool
    comment: str | None = None


@dataclass(frozen=True)
class Rollout:
    """The change rolled out to a scope (a site, a team, a region) at a time: the procedure version it runs."""

    scope: Mapping[str, str]
    at_ms: int
    actor: str
    procedure: str | None = None
    procedure_version: str | None = None


@dataclass(frozen=True)
class Verdict:
    """What the verdict found: verified or failed, for which metric, in words (with n and interval)."""

    outcome: str
    metric: str
    summary: str
    at_ms: int


@dataclass(frozen=True)
class Action:
    action_id: str
    item_id: str
    action: ItemAction
    actor: str
    at_ms: int
    role: str | None = None
    teams: tuple[str, ...] = ()  # the actor's teams (empty: all), for approvals
    comment: str | None = None
    # PROPOSE (and REPRIORITISE, ANALYSE: the fields given)
    title: str | None = None
    source: str | None = None  # recurrence, driver, cut-set, manual
    cause_code: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)  # the scope of the problem
    reach: float | None = None
    reach_low: float | None = None
    reach_high: float | None = None
    segments: Mapping[str, float] = field(default_factory=dict)
    severity: int | None = None
    cost_weeks: float | None = None
    risk: float | None = None
    requests: Mapping[str, float] = field(default_factory=dict)  # shared capacity asked for: resource -> weeks
    effect: float | None = None  # expected improvement of the target metric, in points
    effect_low: float | None = None
    effect_high: float | None = None
    # SET_CHANGE
    change: Change | None = None
    # APPROVE, REFUSE
    department: str | None = None
    # ROLL_OUT
    scope: Mapping[str, str] = field(default_factory=dict)
    # VERIFY, FAIL
    metric: str | None = None


@dataclass(frozen=True)
class Item:
    item_id: str
    title: str
    state: ItemState
    source: str
    created_ms: int
    updated_ms: int
    cause_code: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    reach: float = 0.0
    reach_low: float = 0.0
    reach_high: float = 0.0
    segments: Mapping[str, float] = field(default_factory=dict)
    severity: int = 5
    cost_weeks: float = 1.0
    risk: float = 0.2
    requests: Mapping[str, float] = field(default_factory=dict)
    effect: float | None = None
    effect_low: float | None = None
    effect_high: float | None = None
    evidence: int = 1  # how many times the problem was proposed (recurring cases, findings)
    analysis: str | None = None
    change: Change | None = None
    approvals: tuple[Approval, ...] = ()
    rollouts: tuple[Rollout, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    version: int = 0
    applied: tuple[str, ...] = ()

    @property
    def impact(self) -> Impact:
        return Impact(self.reach, self.reach_low, self.reach_high, self.segments, self.severity, self.cost_weeks,
                      self.risk)  # fmt: skip

    @property
    def first_rollout_ms(self) -> int | None:
        return min((r.at_ms for r in self.rollouts), default=None)


def required_departments(change: Change | None, spec: Remediation) -> tuple[str, ...]:
    """Who must approve: every touched department, and the regulated approver when the change is regulated."""
    if change is None:
        return ()
    needed = list(dict.fromkeys(change.departments))
    if change.regulated and spec.regulated_approver not in needed:
        needed.append(spec.regulated_approver)
    return tuple(needed)


def standing(item: Item) -> dict[str, Approval]:
    """The latest approval or refusal of each department."""
    latest: dict[str, Approval] = {}
    for approval in item.approvals:
        latest[approval.department] = approval
    return latest


def missing_approvals(item: Item, spec: Remediation) -> tuple[str, ...]:
    """Required departments without a standing approval."""
    latest = standing(item)
    return tuple(d for d in required_departments(item.change, spec) if not (d in latest and latest[d].approved))


def approvals_complete(item: Item, spec: Remediation) -> bool:
    return item.change is not None and not missing_approvals(item, spec)


def may_approve(spec: Remediation, department: str, role: str | None, teams: tuple[str, ...]) -> bool:
    """Admins approve for any department; a supervisor for a department their team owns (no teams: all)."""
    if role == "admin":
        return True
    found = spec.department(department)
    return role == "supervisor" and found is not None and (not teams or found.owner in teams)


def item_priority(item: Item, spec: Remediation) -> Priority:
    return priority(spec.priority, item.impact)


def _need(value: str | None, rule: str, what: str) -> str:
    if value is None or not value.strip():
        raise Refused(rule, f"{what} is required")
    return value.strip()


def _check_impact(action: Action) -> None:
    if action.severity is not None and not 1 <= action.severity <= 10:
        raise Refused("item.severity", "severity must be 1-10")
    if action.cost_weeks is not None and action.cost_weeks <= 0:
        raise Refused("item.cost", "the cost to fix must be positive (person-weeks)")
    if action.risk is not None and not 0 <= action.risk < 1:
        raise Refused("item.risk", "risk is a chance: 0 <= risk < 1")
    if action.reach is not None and action.reach < 0:
        raise Refused("item.reach", "reach is a count of customers per week")
    if any(weeks < 0 for weeks in action.requests.values()):
        raise Refused("item.requests", "capacity asked for is weeks: zero or more")
    effects = [e for e in (action.effect_low, action.effect, action.effect_high) if e is not None]
    if effects and effects != sorted(effects):
        raise Refused("item.effect", "the expected effect lies within its interval: low <= effect <= high")


def _with_impact(item: Item, action: Action) -> Item:
    _check_impact(action)
    given = action.reach is not None  # a reach given without an interval is a point: its own ends
    reach = action.reach if action.reach is not None else item.reach
    low = action.reach_low if action.reach_low is not None else (reach if given else item.reach_low)
    high = action.reach_high if action.reach_high is not None else (reach if given else item.reach_high)
    return replace(
        item,
        reach=reach,
        reach_low=min(low, reach),
        reach_high=max(high, reach),
        segments=dict(action.segments) or item.segments,
        severity=action.severity if action.severity is not None else item.severity,
        cost_weeks=action.cost_weeks if action.cost_weeks is not None else item.cost_weeks,
        risk=action.risk if action.risk is not None else item.risk,
        cause_code=action.cause_code or item.cause_code,
        requests=dict(action.requests) or item.requests,
        effect=action.effect if action.effect is not None else item.effect,
        effect_low=action.effect_low if action.effect_low is not None else (
            action.effect if action.effect is not None else item.effect_low),
        effect_high=action.effect_high if action.effect_high is not None else (
            action.effect if action.effect is not None else item.effect_high),
    )  # fmt: skip


def _propose(action: Action, spec: Remediation) -> Item:
    if action.cause_code and spec.root_causes.find(action.cause_code) is None:
        raise Refused("item.cause_code", f"unknown root-cause code {action.cause_code!r}")
    item = Item(
        item_id=action.item_id,
        title=_need(action.title, "item.title", "a title"),
        state=ItemState.PROPOSED,
        source=action.source or "manual",
        created_ms=action.at_ms,
        updated_ms=action.at_ms,
        labels=dict(action.labels),
        analysis=action.comment,
    )
    return _with_impact(item, action)


def _check_change(change: Change | None, spec: Remediation) -> Change:
    if change is None:
        raise Refused("item.change", "the change is required")
    _need(change.description, "item.change", "the change's description")
    if not change.departments:
        raise Refused("item.departments", "name the departments the change touches")
    for department in change.departments:
        if spec.department(department) is None:
            raise Refused("item.departments", f"unknown department {department!r}")
    if not change.target_metrics:
        raise Refused("item.metrics", "name the metrics the change should move (its verdict compares them)")
    if (change.procedure is None) != (change.procedure_version is None):
        raise Refused("item.procedure", "give the procedure with its version, or neither")
    ids = [m.id for m in change.failure_modes]
    if len(set(ids)) != len(ids):
        raise Refused("item.fmea", "two failure modes share an id")
    return change


def metric_problems(change: Change, metrics: MetricsSpec) -> list[str]:
    """What is wrong with the metrics a change names: unknown target metrics, or an observed failure mode on a
    metric that does not keep that dimension or has nothing of that rate (checked where actions are taken)."""
    known = {d.id: d for d in metrics.definitions}
    problems = [f"unknown target metric {m!r}" for m in change.target_metrics if m not in known]
    for mode in change.failure_modes:
        observed = mode.observed
        if observed is None:
            continue
        definition = known.get(observed.metric)
        if definition is None:
            problems.append(f"failure mode {mode.id}: unknown metric {observed.metric!r}")
            continue
        missing = [d for d in observed.where if d not in definition.dimensions]
        if missing:
            problems.append(f"failure mode {mode.id}: {definition.id} is not kept per {missing[0]}")
        if observed.rate == "miss" and definition.sla is None:
            problems.append(f"failure mode {mode.id}: {definition.id} has no SLA to miss")
        if observed.rate == "detractor" and definition.indicator.value not in ("csat", "ces", "nps"):
            problems.append(f"failure mode {mode.id}: {definition.id} has no detractors")
    return problems


def apply(item: Item | None, action: Action, spec: Remediation) -> Item:
    """The item after ``action``; raises :class:`Refused` when the action is not allowed."""
    if item is not None and action.action_id in item.applied:
        return item
    kind = action.action
    if item is None:
        if kind is not ItemAction.PROPOSE:
            raise Refused("item.unknown", f"no remediation item {action.item_id}: propose it first")
        return _stamp(_propose(action, spec), action)
    if kind is ItemAction.PROPOSE:  # the same problem found again: more evidence, fresher reach
        if action.cause_code and spec.root_causes.find(action.cause_code) is None:
            raise Refused("item.cause_code", f"unknown root-cause code {action.cause_code!r}")
        return _stamp(replace(_with_impact(item, action), evidence=item.evidence + 1), action)
    if kind is ItemAction.COMMENT:
        _need(action.comment, "item.comment", "the comment")
        return _stamp(item, action)
    allowed = ALLOWED[kind]
    if item.state not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise Refused("item.transition", f"{kind.value} needs the item in {names}; it is {item.state.value}")
    return _stamp(_transition(item, action, spec), action)


def _transition(item: Item, action: Action, spec: Remediation) -> Item:
    kind = action.action
    if kind is ItemAction.ANALYSE:
        if action.cause_code and spec.root_causes.find(action.cause_code) is None:
            raise Refused("item.cause_code", f"unknown root-cause code {action.cause_code!r}")
        analysed = _with_impact(item, action)
        approvals = () if item.state is ItemState.FAILED else item.approvals  # back from a failure: approve anew
        analysis = _need(action.comment, "item.analysis", "the analysis")
        return replace(analysed, state=ItemState.ANALYSED, analysis=analysis, approvals=approvals)
    if kind is ItemAction.SET_CHANGE:
        checked = _check_change(action.change, spec)
        return replace(item, state=ItemState.ANALYSED, change=checked, approvals=())  # a changed change: approve again
    if kind in (ItemAction.APPROVE, ItemAction.REFUSE):
        return _decide(item, action, spec)
    if kind is ItemAction.START:
        return replace(item, state=ItemState.IN_PROGRESS)
    if kind is ItemAction.ROLL_OUT:
        if not approvals_complete(item, spec):
            missing = ", ".join(missing_approvals(item, spec)) or "a change"
            raise Refused("item.approvals", f"not rolled out before the approvals are complete (missing: {missing})")
        if not action.scope:
            raise Refused("item.scope", "say where it is rolled out (site, team or region)")
        change = item.change
        rollout = Rollout(dict(action.scope), action.at_ms, action.actor, change.procedure if change else None,
                          change.procedure_version if change else None)  # fmt: skip
        return replace(item, state=ItemState.ROLLED_OUT, rollouts=(*item.rollouts, rollout))
    if kind in (ItemAction.VERIFY, ItemAction.FAIL):
        if not action.actor.startswith("system:"):
            raise Refused("item.verdict", "a verdict is recorded by cxstream's comparison, not by a person")
        outcome = "verified" if kind is ItemAction.VERIFY else "failed"
        metric = _need(action.metric, "item.metric", "the metric")
        verdict = Verdict(outcome, metric, _need(action.comment, "item.verdict", "the verdict"), action.at_ms)
        state = ItemState.VERIFIED if kind is ItemAction.VERIFY else ItemState.FAILED
        return replace(item, state=state, verdicts=(*item.verdicts, verdict))
    if kind is ItemAction.REOPEN:
        _need(action.comment, "item.reopen", "a reason to reopen")
        return replace(item, state=ItemState.ANALYSED, approvals=())
    if kind is ItemAction.DROP:
        _need(action.comment, "item.drop", "a reason to drop it")
        return replace(item, state=ItemState.DROPPED)
    return _with_impact(item, action)  # REPRIORITISE


def _decide(item: Item, action: Action, spec: Remediation) -> Item:
    department = _need(action.department, "item.department", "the department approving")
    required = required_departments(item.change, spec)
    if department not in required:
        raise Refused("item.department", f"{department!r} is not among the required approvers ({', '.join(required)})")
    if not may_approve(spec, department, action.role, action.teams):
        raise Refused("item.role", f"only an admin or a supervisor of {department}'s owning team decides for it")
    approved = action.action is ItemAction.APPROVE
    if approved and item.change is not None and (open_modes := unmitigated(spec.fmea, list(item.change.failure_modes))):
        names = ", ".join(m.id for m in open_modes)
        raise Refused("item.fmea", f"failure modes of {spec.fmea.must_mitigate.value} action priority have no "
                                   f"mitigation: {names}")  # fmt: skip
    if not approved:
        _need(action.comment, "item.refusal", "a reason for the refusal")
    decided = replace(item, approvals=(*item.approvals, Approval(department, action.actor, action.at_ms, approved,
                                                                  action.comment)))  # fmt: skip
    state = ItemState.APPROVED if approvals_complete(decided, spec) else ItemState.ANALYSED
    return replace(decided, state=state)


def _stamp(item: Item, action: Action) -> Item:
    return replace(
        item,
        version=item.version + 1,
        updated_ms=max(item.updated_ms, action.at_ms),
        applied=(*item.applied, action.action_id)[-REMEMBERED_ACTIONS:],
    )
