"""Hot alerts: single events that demand action at once, without waiting for a window to fill. A detractor
whose verbatim names a critical driver (cancelling, legal action, safety), a detractor in a high-value
segment, a delivery far past its promise. Every condition of a rule must hold; the alert fires once per
rule and event (its id is derived from both, so a replayed event raises nothing new) and resolves by
itself after ``resolve_after`` unless a case closes it sooner.

Pure: the agent passes each canonical event and the time it is processed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from pydantic import Field, field_validator

from cxstream.domain.alerting.matchers import Matcher, matches_all, parse_all, parse_matchers
from cxstream.domain.alerting.records import Breach, BreachKind, Direction, Status
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.base import Json, Strict, as_int, as_str, digest, from_ms, obj, text_map, to_ms
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.ingest.enrichment import drivers_of
from cxstream.domain.ingest.events import CanonicalEvent, EventType
from cxstream.domain.metrics.measure import is_detractor

#: Event fields a hot-alert rule can match on, and that become labels of the alert.
EVENT_LABELS = (
    "source", "region", "site", "team", "channel", "journey_stage", "touchpoint", "customer_segment", "customer_id",
    "agent_id",
)  # fmt: skip


class Conditions(Strict):
    """All set conditions must hold."""

    event_types: tuple[EventType, ...] = Field((), description="empty: any type")
    detractor: bool = Field(False, description="a survey answer in its metric's detractor band")
    drivers_any: tuple[str, ...] = Field((), description="the verbatim names at least one of these drivers")
    segments: tuple[str, ...] = Field((), description="customer_segment is one of these")
    late_by_more_than: str | None = Field(None, description="operation.actual_at - promised_at beyond this")
    matchers: tuple[str, ...] = Field((), description="label matchers on the event's fields, e.g. region=~emea|apac")

    @field_validator("late_by_more_than")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration_ms(value)
        return value

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            for matcher in parse_matchers(item):
                if matcher.label not in EVENT_LABELS:
                    raise ValueError(f"{item!r}: match on one of {', '.join(EVENT_LABELS)}")
        return value


class HotAlertRule(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]{1,60}$")
    when: Conditions
    severity: Severity = Severity.CRITICAL
    owner: str | None = Field(None, description="owning team; default: the event's team")
    resolve_after: str = Field("24h", description="resolved by itself after this long")
    max_age: str = Field("1d", description="events older than this when processed raise nothing (back-fills)")
    summary: str = ""

    @field_validator("resolve_after", "max_age")
    @classmethod
    def _durations(cls, value: str) -> str:
        if parse_duration_ms(value) <= 0:
            raise ValueError("must be positive")
        return value


@lru_cache(maxsize=256)
def _ms_of(duration: str) -> int:  # rules are tried on every event: parse their texts once
    return parse_duration_ms(duration)


@lru_cache(maxsize=256)
def _parsed(matchers: tuple[str, ...]) -> tuple[Matcher, ...]:
    return parse_all(matchers)


def event_labels(event: CanonicalEvent) -> dict[str, str]:
    values = {name: getattr(event, name) for name in EVENT_LABELS}
    return {name: str(value) for name, value in values.items() if value}


def late_ms(event: CanonicalEvent) -> int | None:
    operation = event.operation
    if operation is None or operation.promised_at is None or operation.actual_at is None:
        return None
    return int((operation.actual_at - operation.promised_at).total_seconds() * 1000)


def matches(rule: HotAlertRule, event: CanonicalEvent) -> bool:
    when = rule.when
    if when.event_types and event.event_type not in when.event_types:
        return False
    if when.detractor and not is_detractor(event):
        return False
    if when.drivers_any and not set(when.drivers_any) & set(drivers_of(event)):
        return False
    if when.segments and (event.customer_segment or "") not in when.segments:
        return False
    if when.late_by_more_than is not None:
        late = late_ms(event)
        if late is None or late <= _ms_of(when.late_by_more_than):
            return False
    return not when.matchers or matches_all(_parsed(when.matchers), event_labels(event))


def hot_breach_id(rule_id: str, event_id: str) -> str:
    return "br-" + digest(f"hot|{rule_id}|{event_id}")


@dataclass(frozen=True)
class HotAlert:
    """What the detecting agent hands to the routing side. Times in epoch milliseconds (it travels as JSON)."""

    breach_id: str
    rule_id: str
    severity: Severity
    labels: Mapping[str, str]
    event_id: str
    event_ms: int
    ingest_ms: int
    detected_ms: int
    resolve_at_ms: int
    metric: str
    value: float | None
    summary: str

    def to_json(self) -> dict[str, Json]:
        return {
            "breach_id": self.breach_id, "rule_id": self.rule_id, "severity": self.severity.value,
            "labels": dict(self.labels), "event_id": self.event_id, "event_ms": self.event_ms,
            "ingest_ms": self.ingest_ms, "detected_ms": self.detected_ms, "resolve_at_ms": self.resolve_at_ms,
            "metric": self.metric, "value": self.value, "summary": self.summary,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: object) -> HotAlert:
        value = obj(data, "hot alert")
        number = value["value"]
        return cls(
            breach_id=as_str(value["breach_id"]), rule_id=as_str(value["rule_id"]),
            severity=Severity(as_str(value["severity"])), labels=text_map(value["labels"]),
            event_id=as_str(value["event_id"]), event_ms=as_int(value["event_ms"]),
            ingest_ms=as_int(value["ingest_ms"]), detected_ms=as_int(value["detected_ms"]),
            resolve_at_ms=as_int(value["resolve_at_ms"]), metric=as_str(value["metric"]),
            value=None if number is None else float(str(number)), summary=as_str(value["summary"]),
        )  # fmt: skip


def _what(event: CanonicalEvent) -> tuple[str, float | None, str]:
    """The metric label, the value and a sentence about the event."""
    where = ", ".join(p for p in (event.region, event.site) if p) or "unknown region"
    if event.survey is not None:
        survey = event.survey
        text = survey.verbatim or event.comment or ""
        quote = f': "{text[:140]}"' if text else ""
        return (
            survey.metric.value.lower(),
            float(survey.score),
            f"{survey.metric.value} {survey.score} in {where}{quote}",
        )
    late = late_ms(event)
    if late is not None:
        return "delivery_delay", late / 3_600_000, f"{late / 86_400_000:.1f} days late in {where}"
    text = event.comment or ""
    return event.event_type.value.lower(), None, f"{event.event_type.value.lower()} in {where}: {text[:140]}"


def detect(rules: Iterable[HotAlertRule], event: CanonicalEvent, now: datetime) -> tuple[list[HotAlert], list[str]]:
    """The hot alerts one event raises, and the rules it matched but was too old for."""
    alerts: list[HotAlert] = []
    stale: list[str] = []
    now_ms, event_ms = to_ms(now), to_ms(event.event_time)
    for rule in rules:
        if not matches(rule, event):
            continue
        if now_ms - event_ms > _ms_of(rule.max_age):
            stale.append(rule.id)
            continue
        metric, value, sentence = _what(event)
        owner = rule.owner or event.team or ""
        drivers = ",".join(drivers_of(event))
        labels = {
            **event_labels(event),
            "rule": rule.id,
            "kind": "HOT_ALERT",
            "severity": rule.severity.value,
            "metric": metric,
            "owner": owner,
            **({"drivers": drivers} if drivers else {}),
        }
        alerts.append(
            HotAlert(
                breach_id=hot_breach_id(rule.id, event.event_id),
                rule_id=rule.id,
                severity=rule.severity,
                labels=labels,
                event_id=event.event_id,
                event_ms=event_ms,
                ingest_ms=to_ms(event.ingest_time),
                detected_ms=now_ms,
                resolve_at_ms=now_ms + _ms_of(rule.resolve_after),
                metric=metric,
                value=value,
                summary=f"{rule.summary or rule.id}: {sentence}",
            )
        )
    return alerts, stale


def hot_breach_record(alert: HotAlert, status: Status, now_ms: int) -> Breach:
    """The ``cx.breaches`` record (schema ``cxstream.Breach``, kind HOT_ALERT) of a hot alert."""
    return Breach(
        breach_id=alert.breach_id,
        rule_id=alert.rule_id,
        kind=BreachKind.HOT_ALERT,
        status=status,
        severity=alert.severity,
        metric=alert.metric,
        scope={k: alert.labels[k] for k in ("region", "site") if k in alert.labels},
        labels=dict(alert.labels),
        value=alert.value,
        n=1,
        direction=Direction.BELOW,
        started_at=from_ms(alert.detected_ms),
        updated_at=from_ms(now_ms),
        event_ids=(alert.event_id,),
        summary=alert.summary if status is not Status.RESOLVED else f"resolved: {alert.summary}",
    )
