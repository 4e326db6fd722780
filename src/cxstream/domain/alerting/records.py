"""The records the routing side publishes, as typed values with one encoding each: a breach on
``cx.breaches`` (schema ``cxstream.Breach``) and an escalation on ``cx.escalations.<team>`` (schema
``cxstream.Escalation``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cxstream.domain.alerting.severity import Severity
from cxstream.domain.base import Json, from_ms


class BreachKind(StrEnum):
    THRESHOLD = "THRESHOLD"
    HOT_ALERT = "HOT_ALERT"
    STAFFING_GAP = "STAFFING_GAP"  # the agents on a queue's floor fall short of its forecast (workforce)
    EXECUTION_GAP = "EXECUTION_GAP"  # a location outside the funnel of all locations, or its chart's rule fired
    AUDIT_DRIFT = "AUDIT_DRIFT"  # an audited standard no longer kept: a material, significant fall (impact)
    HANDOVER = "HANDOVER"  # a shift's handover not acknowledged in time by the incoming shift


class Status(StrEnum):
    FIRING = "FIRING"
    UPDATED = "UPDATED"
    RESOLVED = "RESOLVED"


class Direction(StrEnum):
    BELOW = "BELOW"  # bad when the value falls under the level (CSAT, NPS, SLA compliance)
    ABOVE = "ABOVE"  # bad when it rises over it (delivery delay, resolution time, reopen rate)


@dataclass(frozen=True)
class Breach:
    breach_id: str
    rule_id: str
    kind: BreachKind
    status: Status
    severity: Severity
    metric: str
    scope: Mapping[str, str]
    labels: Mapping[str, str]
    n: int
    direction: Direction
    started_at: datetime
    updated_at: datetime
    summary: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    value: float | None = None
    interval_low: float | None = None
    interval_high: float | None = None
    confidence: float | None = None
    threshold: float | None = None
    event_ids: tuple[str, ...] = ()

    def to_record(self) -> dict[str, object]:
        return {
            "breach_id": self.breach_id, "rule_id": self.rule_id, "kind": self.kind.value,
            "status": self.status.value, "severity": self.severity.value, "metric": self.metric,
            "scope": dict(self.scope), "labels": dict(self.labels), "window_start": self.window_start,
            "window_end": self.window_end, "value": self.value, "interval_low": self.interval_low,
            "interval_high": self.interval_high, "confidence": self.confidence, "n": self.n,
            "threshold": self.threshold, "direction": self.direction.value, "started_at": self.started_at,
            "updated_at": self.updated_at, "event_ids": list(self.event_ids), "summary": self.summary,
        }  # fmt: skip

    @property
    def key(self) -> bytes:
        """The Kafka key on ``cx.breaches``."""
        return self.breach_id.encode()


@dataclass(frozen=True)
class Escalation:
    escalation_id: str
    receiver: str
    group_key: str
    severity: Severity
    level: int
    breach_ids: tuple[str, ...]
    labels: Mapping[str, str]
    created_ms: int
    summary: str
    first_event_ms: int | None = None

    @property
    def status(self) -> str:
        return self.labels.get("status", "firing")

    def to_record(self) -> dict[str, object]:
        return {
            "escalation_id": self.escalation_id, "receiver": self.receiver, "group_key": self.group_key,
            "severity": self.severity.value, "level": self.level, "breach_ids": list(self.breach_ids),
            "labels": dict(self.labels), "created_at": from_ms(self.created_ms),
            "first_event_time": from_ms(self.first_event_ms) if self.first_event_ms is not None else None,
            "summary": self.summary,
        }  # fmt: skip

    @property
    def key(self) -> bytes:
        """The Kafka key on the team topic: escalations of one group stay in order."""
        return self.group_key.encode()


@dataclass(frozen=True)
class LastBreach:
    """The last breach the routing side saw, for ``cxstream status``."""

    breach_id: str
    status: Status
    severity: Severity
    rule: str | None
    summary: str
    at_ms: int

    def to_json(self) -> dict[str, Json]:
        return {"breach_id": self.breach_id, "status": self.status.value, "severity": self.severity.value,
                "rule": self.rule, "summary": self.summary, "at_ms": self.at_ms}  # fmt: skip

    def public_json(self) -> dict[str, Json]:
        """What ``/status`` (no token) shows: no summary, since a hot alert's summary quotes the customer."""
        return {"breach_id": self.breach_id, "status": self.status.value, "severity": self.severity.value,
                "rule": self.rule, "at_ms": self.at_ms}  # fmt: skip
