"""What ``topologies/workforce.yaml`` declares: queues (scopes of the helpdesk's contacts), their service-level
targets, and how the forecast learns from metric history."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from cxstream.domain.base import Strict
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.metrics.spec import INTERVALS
from cxstream.domain.workforce.erlang import ServiceTarget

QUEUE_ID = r"^[a-z][a-z0-9-]{1,40}$"


class TargetSpec(Strict):
    """A service-level target; on a queue, only the fields it overrides."""

    answer_within: str | None = Field(None, description="service-level time, e.g. 20s (4h for email)")
    service_level: float | None = Field(None, gt=0, lt=1, description="share answered within it, e.g. 0.8")
    max_occupancy: float | None = Field(None, gt=0, le=1, description="cap on the agents' busy share")
    shrinkage: float | None = Field(None, ge=0, lt=1, description="share of paid time off the queue")
    patience: str | None = Field(None, description="mean patience before abandoning: Erlang A; absent: Erlang C")

    @field_validator("answer_within", "patience")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration_ms(value)
        return value

    def over(self, base: TargetSpec) -> TargetSpec:
        """This target's fields where set, ``base``'s elsewhere."""
        return TargetSpec.model_validate({**base.model_dump(), **self.model_dump(exclude_none=True)})


DEFAULT_TARGET = TargetSpec(answer_within="20s", service_level=0.8, max_occupancy=0.85, shrinkage=0.3)


class Queue(Strict):
    """A queue: the helpdesk contacts of one scope (dimension values of the arrivals and handle-time metrics)."""

    id: str = Field(pattern=QUEUE_ID)
    display: str = Field(min_length=1, description="the queue's name on screens")
    where: dict[str, str] = Field(default_factory=dict, description="dimension -> value, e.g. {region: emea}")
    team: str = Field(description="the team that staffs it (and gets its staffing gaps)")
    target: TargetSpec = TargetSpec()


#: What a tier rule may test: fields of the canonical event, its operation, or its attributes.
TIER_FIELDS = ("priority", "customer_segment", "channel", "team", "region", "site", "ticket_type", "touches",
               "reopened")  # fmt: skip


Condition = dict[str, tuple[str, ...]]


class Tier(Strict):
    """A complexity tier: contacts matching any of its conditions (a condition holds when every field it lists
    has one of its values); a tier without conditions takes every contact. The first matching tier in the
    list is a contact's tier."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    display: str = Field(min_length=1)
    any: tuple[Condition, ...] = Field((), description="conditions, e.g. [{ticket_type: [problem]}]")

    @field_validator("any")
    @classmethod
    def _fields(cls, value: tuple[Condition, ...]) -> tuple[Condition, ...]:
        out = []
        for condition in value:
            if not condition:
                raise ValueError("an empty condition matches everything: leave 'any' out instead")
            for name, allowed in condition.items():
                if name not in TIER_FIELDS:
                    raise ValueError(f"{name!r} is not a field a tier can test (one of: {', '.join(TIER_FIELDS)})")
                if not allowed:
                    raise ValueError(f"{name}: list at least one value")
            out.append({k: tuple(v.lower() for v in allowed) for k, allowed in condition.items()})
        return tuple(out)

    def matches(self, values: dict[str, str | None]) -> bool:
        if not self.any:
            return True
        return any(
            all((values.get(name) or "").lower() in allowed for name, allowed in condition.items())
            for condition in self.any
        )


class ForecastSpec(Strict):
    weeks: int = Field(8, ge=2, le=13, description="weeks of history each interval's forecast learns from")
    horizon_days: int = Field(7, ge=1, le=14, description="days ahead that are forecast")
    backtest_days: int = Field(7, ge=1, le=28, description="past days the accuracy (WAPE) is measured on")
    confidence: float = Field(0.8, gt=0.5, lt=1, description="coverage of the prediction interval")
    yearly: bool = Field(True, description="scale by last year's same week when a year of daily history exists")


class GapSpec(Strict):
    """When the agents on the floor now fall short of a queue's forecast: a staffing-gap breach."""

    look_ahead: str = Field("1h", description="how far ahead the floor now is weighed against the forecast")
    hold: str = Field("2m", description="how long a gap must last before it fires (a short break does not page)")
    critical_service_level: float = Field(
        0.5, gt=0, lt=1, description="a projected service level under this is CRITICAL (under the target: WARNING)"
    )
    owner: str = Field("workforce", description="the team whose escalation topic gets staffing gaps")

    @field_validator("look_ahead", "hold")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_ms(value)
        return value

    @property
    def look_ahead_ms(self) -> int:
        return parse_duration_ms(self.look_ahead)

    @property
    def hold_ms(self) -> int:
        return parse_duration_ms(self.hold)


class Attribution(StrEnum):
    """Who a customer's rating of a ticket is credited to."""

    LAST_ASSIGNEE = "last_assignee"  # the ticket's assignee when it was rated (what helpdesks do)
    LAST_REPLY = "last_reply"  # the agent who wrote the last public reply before the rating
    TOUCHES = "touches"  # every agent who replied, weighted by their replies


#: The scorecard components the incentive index may weigh.
COMPONENTS = ("csat", "ces", "fcr", "reopen", "handle_time")


class ScorecardSpec(Strict):
    """Agents' CX scorecards and the incentive index (docs/workforce.md)."""

    attribution: Attribution = Field(Attribution.LAST_REPLY, description="who a rating is credited to")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="coverage of the intervals shown")
    coach_fdr: float = Field(
        0.1, gt=0, lt=0.5, description="false-discovery rate of the coaching flags over a team's comparisons "
        "(agents x components, Benjamini-Hochberg)"
    )  # fmt: skip
    keep_days: int = Field(35, ge=1, le=400, description="days of ticket lives a worker keeps for scorecards")
    index: dict[str, float] = Field(
        default_factory=lambda: {"csat": 0.35, "ces": 0.1, "fcr": 0.25, "reopen": 0.15, "handle_time": 0.15},
        description="incentive index weights per component (they sum to 1)",
    )

    @field_validator("index")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(COMPONENTS))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a component (one of {', '.join(COMPONENTS)})")
        if any(w < 0 for w in value.values()) or abs(sum(value.values()) - 1) > 1e-6:
            raise ValueError(f"index weights are >= 0 and sum to 1 (they sum to {sum(value.values()):g})")
        return value


class QualitySpec(Strict):
    """The cost of quality: CSAT against handle time for complex contacts, next to the staffing it costs."""

    tiers: tuple[str, ...] = Field(("complex",), min_length=1, description="the complexity tiers it is about")
    hourly_cost: float = Field(35.0, gt=0, description="loaded cost of one paid agent hour")
    currency: str = Field("EUR", min_length=1, max_length=8)
    steps: tuple[str, ...] = Field((), description="allowed handle times to compare, e.g. [6m, 8m, 10m] (default: "
                                                   "whole minutes over the observed range)")  # fmt: skip
    min_rated: int = Field(40, ge=10, description="rated tickets of the tiers the relation needs")

    @field_validator("steps")
    @classmethod
    def _durations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for step in value:
            parse_duration_ms(step)
        return value

    @property
    def steps_min(self) -> tuple[float, ...]:
        return tuple(parse_duration_ms(s) / 60_000 for s in self.steps)


class CalendarRule(Strict):
    """A declared peak season or change freeze: entries overlapping it are warned about or refused."""

    name: str = Field(min_length=1)
    start: date = Field(alias="from")
    end: date = Field(alias="to", description="the last day (inclusive)")
    kinds: tuple[str, ...] = Field((), description="entry kinds it applies to (none: every kind)")
    queues: tuple[str, ...] = Field((), description="queues it applies to (none: every queue)")
    action: str = Field("warn", pattern="^(warn|refuse)$")

    @model_validator(mode="after")
    def _order(self) -> CalendarRule:
        if self.end < self.start:
            raise ValueError(f"{self.name}: 'to' ({self.end}) is before 'from' ({self.start})")
        return self


#: What a calendar entry can be.
ENTRY_KINDS = ("training", "system_change", "other")


class CalendarSpec(Strict):
    """The training and change calendar's declared peaks and freezes (docs/workforce.md)."""

    peaks: tuple[CalendarRule, ...] = ()
    freezes: tuple[CalendarRule, ...] = ()
    search_days: int = Field(7, ge=1, le=14, description="how far ahead a better window is looked for")

    @field_validator("peaks", "freezes")
    @classmethod
    def _kinds(cls, value: tuple[CalendarRule, ...]) -> tuple[CalendarRule, ...]:
        for rule in value:
            unknown = [k for k in rule.kinds if k not in ENTRY_KINDS]
            if unknown:
                raise ValueError(f"{rule.name}: {', '.join(unknown)} not an entry kind ({', '.join(ENTRY_KINDS)})")
        return value


class Workforce(Strict):
    interval: str = Field("30m", description="the staffing interval: 15m or 30m")
    arrivals: str = Field("contacts", description="metric definition counting arriving contacts (indicator contacts)")
    handle_time: str = Field("handle_time", description="metric definition of handle time (indicator handle_time)")
    target: TargetSpec = DEFAULT_TARGET
    forecast: ForecastSpec = ForecastSpec()
    tiers: tuple[Tier, ...] = Field((), description="complexity tiers of helpdesk contacts, first match wins")
    queues: tuple[Queue, ...] = ()
    gaps: GapSpec = GapSpec()
    scorecards: ScorecardSpec = ScorecardSpec()
    cost_of_quality: QualitySpec = QualitySpec()
    calendar: CalendarSpec = CalendarSpec()

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if value not in INTERVALS:
            raise ValueError(f"interval {value!r}: one of {', '.join(INTERVALS)}")
        return value

    @field_validator("target")
    @classmethod
    def _complete(cls, value: TargetSpec) -> TargetSpec:
        return value.over(DEFAULT_TARGET)

    @model_validator(mode="after")
    def _unique(self) -> Workforce:
        if self.tiers and self.tiers[-1].any:
            raise ValueError(f"the last tier ({self.tiers[-1].id}) must take every other contact: give it no 'any'")
        ids = [t.id for t in self.tiers]
        if len(set(ids)) != len(ids):
            raise ValueError("a tier id is declared twice")
        queue_ids = {q.id for q in self.queues}
        for rule in (*self.calendar.peaks, *self.calendar.freezes):
            strange = [q for q in rule.queues if q not in queue_ids]
            if strange:
                raise ValueError(f"calendar rule {rule.name}: {', '.join(strange)} not a declared queue")
        unknown = [t for t in self.cost_of_quality.tiers if t not in ids]
        if ids and unknown:
            raise ValueError(f"cost_of_quality.tiers: {', '.join(unknown)} not a declared tier ({', '.join(ids)})")
        seen: set[str] = set()
        for queue in self.queues:
            target = self.target_of(queue)
            if target.service_level is not None and self.gaps.critical_service_level >= target.service_level:
                raise ValueError(f"queue {queue.id}: gaps.critical_service_level {self.gaps.critical_service_level} "
                                 f"is not under its service-level target {target.service_level}")  # fmt: skip
            if queue.id in seen:
                raise ValueError(f"queue {queue.id!r} is declared twice")
            seen.add(queue.id)
        return self

    @property
    def interval_ms(self) -> int:
        return parse_duration_ms(self.interval)

    def queue(self, queue_id: str) -> Queue:
        for queue in self.queues:
            if queue.id == queue_id:
                return queue
        raise KeyError(queue_id)

    def target_of(self, queue: Queue) -> TargetSpec:
        return queue.target.over(self.target)

    def service_target(self, queue: Queue) -> ServiceTarget:
        spec = self.target_of(queue)
        assert spec.answer_within is not None and spec.service_level is not None
        return ServiceTarget(
            answer_within_s=parse_duration_ms(spec.answer_within) / 1000,
            service_level=spec.service_level,
            max_occupancy=spec.max_occupancy or 1.0,
            shrinkage=spec.shrinkage or 0.0,
        )

    def patience_s(self, queue: Queue) -> float | None:
        patience = self.target_of(queue).patience
        return parse_duration_ms(patience) / 1000 if patience else None
