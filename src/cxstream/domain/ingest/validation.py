"""Validation rules declared in ``topologies/validation.yaml`` and the reference data they check against.

Each rule either rejects (the record goes to the dead-letter topic with the rule id and a reason) or flags
(the event is kept and carries a quality flag). Time rules measure against the event's ingest time, so the
outcome of a record never depends on when it is re-processed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from cxstream.domain.base import Strict
from cxstream.domain.durations import parse_duration
from cxstream.domain.ingest.events import SCALES, CanonicalEvent, EventType

RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{1,80}$")]

REFERENCE_FIELDS = ("region", "site", "team", "channel", "journey_stage", "touchpoint")
REQUIRABLE_FIELDS = (
    *REFERENCE_FIELDS,
    "customer_id", "account_id", "agent_id", "customer_segment", "comment",
    "survey", "survey.verbatim", "operation", "operation.order_id", "operation.delivery_id",
    "operation.ticket_id", "operation.status", "operation.created_at", "operation.promised_at",
    "operation.actual_at",
)  # fmt: skip


class RuleAction(StrEnum):
    REJECT = "reject"
    FLAG = "flag"


class RuleKind(StrEnum):
    REQUIRED = "required"  # fields that must be present for the listed event types
    NOT_FUTURE = "not_future"  # event time at most clock_skew after ingest
    HORIZON = "horizon"  # event time at most horizon before ingest
    TIME_ORDER = "time_order"  # operation.created_at <= operation.actual_at <= event/ingest time
    SCORE_RANGE = "score_range"  # survey score inside the metric's standard scale
    KNOWN_VALUE = "known_value"  # region/site/team/... listed in the reference data


class Site(Strict):
    id: str
    region: str
    name: str = ""


class Reference(Strict):
    regions: tuple[str, ...] = ()
    sites: tuple[Site, ...] = ()
    channels: tuple[str, ...] = ()
    journey_stages: tuple[str, ...] = ()
    touchpoints: tuple[str, ...] = ()

    def values(self, field: str, teams: Iterable[str] = ()) -> frozenset[str]:
        if field == "site":
            return frozenset(s.id for s in self.sites)
        if field == "team":
            return frozenset(teams)
        return frozenset(
            {
                "region": self.regions,
                "channel": self.channels,
                "journey_stage": self.journey_stages,
                "touchpoint": self.touchpoints,
            }[field]
        )


class RuleSpec(Strict):
    id: RuleId
    kind: RuleKind
    description: str = ""
    action: RuleAction = RuleAction.REJECT
    manual_action: RuleAction | None = Field(
        None, description="action for records marked manual (paper forms, field logs); default: action"
    )
    event_types: tuple[EventType, ...] = Field((), description="empty: every event type")
    fields: tuple[str, ...] = Field((), description="required: the fields; known_value: one reference field")

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in REQUIRABLE_FIELDS:
                raise ValueError(f"{name!r} is not a canonical field (one of: {', '.join(REQUIRABLE_FIELDS)})")
        return value

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> RuleSpec:
        if self.kind is RuleKind.REQUIRED and not self.fields:
            raise ValueError("a required rule lists its fields")
        if self.kind is RuleKind.KNOWN_VALUE and (len(self.fields) != 1 or self.fields[0] not in REFERENCE_FIELDS):
            raise ValueError(f"a known_value rule names exactly one of {', '.join(REFERENCE_FIELDS)}")
        if self.kind not in (RuleKind.REQUIRED, RuleKind.KNOWN_VALUE) and self.fields:
            raise ValueError(f"a {self.kind.value} rule takes no fields")
        return self

    def action_for(self, manual: bool) -> RuleAction:
        return (self.manual_action or self.action) if manual else self.action

    def applies_to(self, event_type: EventType) -> bool:
        return not self.event_types or event_type in self.event_types


class ValidationSpec(Strict):
    clock_skew: str = "5m"
    horizon: str = "30d"
    duplicate_horizon: str = "7d"
    rules: tuple[RuleSpec, ...] = ()

    @field_validator("clock_skew", "horizon", "duplicate_horizon")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, value: tuple[RuleSpec, ...]) -> tuple[RuleSpec, ...]:
        seen: set[str] = set()
        for rule in value:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return value


@dataclass(frozen=True)
class Finding:
    rule_id: str
    action: RuleAction
    message: str
    flag: str


def _field_value(event: CanonicalEvent, path: str) -> object:
    current: object = event
    for part in path.split("."):
        current = getattr(current, part, None)
        if current is None:
            return None
    return current


class Validator:
    def __init__(self, spec: ValidationSpec, reference: Reference, teams: Iterable[str]) -> None:
        self.spec = spec
        self.skew = parse_duration(spec.clock_skew)
        self.horizon = parse_duration(spec.horizon)
        self.duplicate_horizon = parse_duration(spec.duplicate_horizon)
        team_ids = tuple(teams)
        self._known = {field: reference.values(field, team_ids) for field in REFERENCE_FIELDS}

    def check(self, event: CanonicalEvent, manual: bool = False, history: bool = False) -> list[Finding]:
        """Findings of every rule; ``history`` (a backfill of past records) leaves out the age horizon."""
        findings: list[Finding] = []
        for rule in self.spec.rules:
            if history and rule.kind is RuleKind.HORIZON:
                continue
            if rule.applies_to(event.event_type):
                action = rule.action_for(manual)
                findings.extend(Finding(rule.id, action, message, flag) for message, flag in self._run(rule, event))
        return findings

    def _run(self, rule: RuleSpec, event: CanonicalEvent) -> list[tuple[str, str]]:
        """(message, quality flag) for each violation of ``rule``."""
        kind = rule.kind
        if kind is RuleKind.REQUIRED:
            return [
                (f"{event.event_type.value} needs {name}", f"missing:{name}")
                for name in rule.fields
                if _field_value(event, name) in (None, "")
            ]
        if kind is RuleKind.NOT_FUTURE:
            ahead = event.event_time - event.ingest_time
            if ahead > self.skew:
                return [
                    (
                        f"event time {_iso(event.event_time)} is {_span(ahead)} after ingest "
                        f"(allowed skew {self.spec.clock_skew})",
                        rule.id,
                    )
                ]
            return []
        if kind is RuleKind.HORIZON:
            behind = event.ingest_time - event.event_time
            if behind > self.horizon:
                return [
                    (
                        f"event time {_iso(event.event_time)} is {_span(behind)} before ingest "
                        f"(horizon {self.spec.horizon})",
                        rule.id,
                    )
                ]
            return []
        if kind is RuleKind.TIME_ORDER:
            return self._time_order(event, rule.id)
        if kind is RuleKind.SCORE_RANGE:
            return self._score(event, rule.id)
        field = rule.fields[0]
        value = _field_value(event, field)
        if value is not None and str(value) not in self._known[field]:
            return [(f"unknown {field} {value!r:.60}", f"unknown:{field}")]
        return []

    def _time_order(self, event: CanonicalEvent, flag: str) -> list[tuple[str, str]]:
        op = event.operation
        if op is None:
            return []
        found = []
        if op.created_at and op.actual_at and op.actual_at < op.created_at:
            found.append((f"operation ends {_iso(op.actual_at)} before it was created {_iso(op.created_at)}", flag))
        if op.created_at and op.promised_at and op.promised_at < op.created_at - timedelta(days=1):
            found.append((f"promise {_iso(op.promised_at)} precedes creation {_iso(op.created_at)}", flag))
        return found

    def _score(self, event: CanonicalEvent, flag: str) -> list[tuple[str, str]]:
        survey = event.survey
        if survey is None:
            return []
        low, high = SCALES[survey.metric]
        if (survey.scale_min, survey.scale_max) != (low, high):
            return [
                (
                    f"{survey.metric.value} is asked on {low}-{high}, got scale {survey.scale_min}-{survey.scale_max}",
                    flag,
                )
            ]
        if not low <= survey.score <= high:
            return [(f"{survey.metric.value} score {survey.score} outside {low}-{high}", flag)]
        return []


def is_duplicate(
    first_seen_ms: int | None,
    now_ms: int,
    horizon_ms: int,
    first_position: tuple[str, int] | None = None,
    position: tuple[str, int] | None = None,
) -> bool:
    """An event id seen within the horizon is a duplicate; one seen longer ago counts as new again.

    Not a duplicate: the very record it was first seen in, read again (same raw topic and offset in the same
    partition) because the worker died before committing its offset. Its event may or may not have reached
    the output before the crash, so it is published again; readers drop the repeat by event id. Without
    this, a crash between the de-duplication entry and the event reaching the broker would lose the event."""
    if first_seen_ms is None or now_ms - first_seen_ms > horizon_ms:
        return False
    return first_position is None or first_position != position


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds / 86400:.1f}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m" if seconds >= 60 else f"{seconds}s"
