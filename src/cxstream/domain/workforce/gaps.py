"""Live staffing gaps: the agents on a queue's floor now against its forecast for the next intervals.

For each interval of the look-ahead that has a forecast, the queue's service level is projected with the agents
staffed now (Erlang C or A at the forecast arrivals and handle time; no agent and any contact: 0), also at both
ends of the forecast's prediction interval. The worst interval decides: a projected service level under the
target is a WARNING, under ``gaps.critical_service_level`` a CRITICAL. A gap must last ``gaps.hold`` before it
fires; it resolves when every interval of the look-ahead meets the target again. A queue nobody's status names,
or without a forecast, gets no verdict (and says why): silence there is not a full floor.

Pure: the agent passes the plans, the roster, the state it kept and the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cxstream.domain.alerting.records import Breach, BreachKind, Direction, Status
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.alerting.thresholds import breach_id
from cxstream.domain.base import Json, from_ms, obj, opt_int, opt_str, to_ms
from cxstream.domain.workforce.erlang import Demand, ServiceTarget, figures
from cxstream.domain.workforce.presence import Floor
from cxstream.domain.workforce.queues import QueuePlan
from cxstream.domain.workforce.spec import GapSpec, Queue

RULE_ID = "staffing-gap"
METRIC = "service_level"


def projected_service_level(
    contacts: float, interval_s: float, handle_s: float, patience_s: float | None, agents: int, within_s: float
) -> float:
    """The service level ``agents`` give ``contacts`` in an interval (1 when nothing arrives, 0 without agents)."""
    if contacts <= 0:
        return 1.0
    if agents < 1:
        return 0.0
    return figures(Demand(contacts, interval_s, handle_s, patience_s), agents, within_s).service_level


@dataclass(frozen=True)
class IntervalOutlook:
    start: datetime
    end: datetime
    arrivals: float  # the point forecast
    low: float  # its prediction interval
    high: float
    weeks: int  # past weeks it learnt from (its n)
    handle_s: float
    handle_n: int
    required: int  # agents the target needs at the point forecast
    staffed: int  # agents on the floor now
    service_level: float  # projected with the staffed agents at the point forecast
    service_level_low: float  # at the top of the prediction interval (more contacts)
    service_level_high: float  # at its bottom

    @property
    def short(self) -> int:
        return max(0, self.required - self.staffed)


@dataclass(frozen=True)
class Outlook:
    """One queue now: its floor, and the look-ahead's intervals weighed against it."""

    queue: Queue
    target: ServiceTarget
    confidence: float  # of the forecast's prediction interval
    floor: Floor
    intervals: tuple[IntervalOutlook, ...] = ()
    insufficient: str | None = None  # why there is no verdict

    @property
    def worst(self) -> IntervalOutlook | None:
        """The interval with the lowest projected service level (the earliest of equals)."""
        return min(self.intervals, key=lambda i: (i.service_level, i.start)) if self.intervals else None

    def severity(self, spec: GapSpec) -> Severity | None:
        worst = self.worst
        if self.insufficient is not None or worst is None:
            return None
        if worst.service_level < spec.critical_service_level:
            return Severity.CRITICAL
        if worst.service_level < self.target.service_level:
            return Severity.WARNING
        return None


def outlook(plan: QueuePlan, floor: Floor, now_ms: int, look_ahead_ms: int) -> Outlook:
    """The queue's intervals from the one running at ``now_ms`` to ``look_ahead_ms`` ahead, with the floor now."""
    base = Outlook(plan.queue, plan.target, plan.forecast.confidence, floor)
    if not floor.known:
        return _insufficient(base, "no agent status names an agent of this queue yet")
    interval_s = plan.forecast.step_ms / 1000
    within = plan.target.answer_within_s
    out = []
    for one in plan.staffing:
        f = one.forecast
        if to_ms(f.end) <= now_ms or to_ms(f.start) >= now_ms + look_ahead_ms:
            continue
        if one.staffing is None or f.arrivals is None or f.handle_s is None or f.low is None or f.high is None:
            continue
        staffed = floor.staffed

        def level(contacts: float, f_handle: float = f.handle_s, agents: int = staffed) -> float:
            return projected_service_level(contacts, interval_s, f_handle, plan.patience_s, agents, within)

        out.append(IntervalOutlook(f.start, f.end, f.arrivals, f.low, f.high, f.weeks, f.handle_s, f.handle_n,
                                   one.staffing.agents, staffed, level(f.arrivals), level(f.high),
                                   level(f.low)))  # fmt: skip
    if not out:
        return _insufficient(base, "no forecast for the coming intervals (too little history)")
    return Outlook(base.queue, base.target, base.confidence, floor, tuple(out))


def _insufficient(base: Outlook, why: str) -> Outlook:
    return Outlook(base.queue, base.target, base.confidence, base.floor, (), why)


@dataclass(frozen=True)
class GapState:
    """What is remembered per queue between evaluations."""

    pending_ms: int | None = None  # when the current gap was first seen (not yet fired)
    open_id: str | None = None
    severity: Severity | None = None
    started_ms: int | None = None

    def to_json(self) -> dict[str, Json]:
        return {"pending_ms": self.pending_ms, "open_id": self.open_id,
                "severity": self.severity.value if self.severity else None, "started_ms": self.started_ms}  # fmt: skip

    @classmethod
    def from_json(cls, data: object) -> GapState:
        value = obj(data, "staffing gap state")
        severity = opt_str(value.get("severity"))
        return cls(opt_int(value.get("pending_ms")), opt_str(value.get("open_id")) or None,
                   Severity(severity) if severity else None, opt_int(value.get("started_ms")))  # fmt: skip


def judge(outlook: Outlook, state: GapState, spec: GapSpec, now_ms: int) -> tuple[GapState, Breach | None]:
    """The queue's gap state after this evaluation and the breach record to publish, if any. No verdict (no
    floor known, no forecast) changes nothing: an open gap stays open until the evidence clears it."""
    if outlook.insufficient is not None:
        return state, None
    severity = outlook.severity(spec)
    if state.open_id is None:
        if severity is None:
            return GapState(), None
        pending = state.pending_ms if state.pending_ms is not None else now_ms
        if now_ms - pending < spec.hold_ms:
            return GapState(pending_ms=pending), None
        bid = breach_id(RULE_ID, scope_of(outlook.queue), now_ms)
        opened = GapState(None, bid, severity, now_ms)
        return opened, gap_breach(outlook, spec, Status.FIRING, severity, bid, now_ms, now_ms)
    assert state.started_ms is not None and state.severity is not None
    if severity is None:
        return GapState(), gap_breach(outlook, spec, Status.RESOLVED, state.severity, state.open_id,
                                      state.started_ms, now_ms)  # fmt: skip
    if severity is not state.severity:
        updated = GapState(None, state.open_id, severity, state.started_ms)
        return updated, gap_breach(outlook, spec, Status.UPDATED, severity, state.open_id, state.started_ms, now_ms)
    return state, None


def scope_of(queue: Queue) -> dict[str, str]:
    return {"queue": queue.id, **queue.where}


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M UTC")


def describe(outlook: Outlook) -> str:
    """One line a planner reads: the floor, the worst interval's need and the service level it gets."""
    worst = outlook.worst
    queue = outlook.queue.display
    if outlook.insufficient is not None or worst is None:
        return f"{queue}: {outlook.insufficient or 'no verdict'}"
    level = round(outlook.confidence * 100)
    return (
        f"{queue}: {worst.staffed} agents on the floor, {worst.required} needed {_clock(worst.start)}-"
        f"{_clock(worst.end)} (forecast {worst.arrivals:.1f} contacts, {level}% PI {worst.low:.0f}-{worst.high:.0f}, "
        f"n={worst.weeks} weeks; handle time {worst.handle_s / 60:.1f} min, n={worst.handle_n}): service level "
        f"{worst.service_level:.2f} ({worst.service_level_low:.2f}-{worst.service_level_high:.2f}) against the "
        f"target {outlook.target.service_level:.2f} in {outlook.target.answer_within_s:g}s"
    )


def gap_breach(
    outlook: Outlook, spec: GapSpec, status: Status, severity: Severity, bid: str, started_ms: int, now_ms: int
) -> Breach:
    """The ``cx.breaches`` record of a staffing gap; routed like any breach, by its labels (``owner``: the
    workforce team)."""
    worst = outlook.worst
    assert worst is not None
    queue = outlook.queue
    scope = scope_of(queue)
    labels = {"kind": BreachKind.STAFFING_GAP.value, "rule": RULE_ID, "metric": METRIC, "owner": spec.owner,
              "severity": severity.value, "team": queue.team, **scope}  # fmt: skip
    if status is Status.RESOLVED:
        summary = f"Staffing gap closed: {describe(outlook)} over the next {spec.look_ahead}"
    else:
        summary = f"Staffing gap: {describe(outlook)}"
    return Breach(
        breach_id=bid,
        rule_id=RULE_ID,
        kind=BreachKind.STAFFING_GAP,
        status=status,
        severity=severity,
        metric=METRIC,
        scope=scope,
        labels=labels,
        n=worst.weeks,
        direction=Direction.BELOW,
        started_at=from_ms(started_ms),
        updated_at=from_ms(now_ms),
        summary=summary,
        window_start=worst.start,
        window_end=worst.end,
        value=round(worst.service_level, 4),
        interval_low=round(worst.service_level_low, 4),
        interval_high=round(worst.service_level_high, 4),
        confidence=outlook.confidence,
        threshold=outlook.target.service_level,
    )
