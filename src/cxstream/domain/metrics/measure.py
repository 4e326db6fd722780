"""From one canonical event to the metric table updates it makes: its contribution to each definition it
counts for, in the finest time grain, keyed by its source partition and finest scope."""

from __future__ import annotations

from collections.abc import Iterable

from cxstream.domain.base import to_ms
from cxstream.domain.ingest.events import CanonicalEvent, EventType, SurveyMetric
from cxstream.domain.metrics.cells import CellKey, Update, bucket_start
from cxstream.domain.metrics.spec import (
    ATTRIBUTE_DIMENSIONS,
    DURATION_UNITS_MS,
    SURVEY_INDICATORS,
    UNKNOWN,
    Indicator,
    MetricDefinition,
    MetricsSpec,
)
from cxstream.domain.metrics.stats import Sufficient

#: The detractor band of each survey metric.
DETRACTOR = {SurveyMetric.CSAT: (1, 2), SurveyMetric.CES: (1, 3), SurveyMetric.NPS: (0, 6)}
_DURATION_EVENTS = {
    Indicator.FIRST_RESPONSE: EventType.TICKET_FIRST_REPLY,
    Indicator.RESOLUTION: EventType.TICKET_SOLVED,
    Indicator.DELIVERY_DELAY: EventType.ORDER_DELIVERED,
}


def measure(definition: MetricDefinition, event: CanonicalEvent) -> Sufficient | None:
    """The contribution of one event to one definition, or None when the event does not count for it."""
    if definition.journey_stages and event.journey_stage not in definition.journey_stages:
        return None
    if definition.touchpoints and event.touchpoint not in definition.touchpoints:
        return None
    for name in definition.bands:
        if name not in event.attributes:
            return None  # kept per band of an operational value: only answers that know it
    indicator = definition.indicator
    out = Sufficient()
    if indicator in SURVEY_INDICATORS:
        survey = event.survey
        if event.event_type is not EventType.SURVEY_RESPONSE or survey is None:
            return None
        if survey.metric is not SURVEY_INDICATORS[indicator]:
            return None
        out.add_score(survey.score)
        return out
    op = event.operation
    if indicator is Indicator.CONTACTS:
        if event.event_type is not EventType.TICKET_CREATED:
            return None
        out.add_trial(hit=False)
        return out
    if indicator is Indicator.REOPEN_RATE:
        if event.event_type is EventType.TICKET_SOLVED:
            out.add_trial(hit=False)
        elif event.event_type is EventType.TICKET_REOPENED:
            out.hits += 1  # a reopen counts against the solved tickets of the same scope and window
        else:
            return None
        return out
    if indicator is Indicator.HANDLE_TIME:
        if event.event_type is not EventType.TICKET_SOLVED or op is None or op.handle_seconds is None:
            return None
        sla = definition.sla_ms
        out.add_value(op.handle_seconds / 60, hit=sla is not None and op.handle_seconds * 1000 <= sla)
        return out
    if event.event_type is not _DURATION_EVENTS[indicator] or op is None or op.actual_at is None:
        return None
    start = op.promised_at if indicator is Indicator.DELIVERY_DELAY else op.created_at
    if start is None:
        return None
    elapsed_ms = to_ms(op.actual_at) - to_ms(start)
    sla = definition.sla_ms
    out.add_value(elapsed_ms / DURATION_UNITS_MS[indicator], hit=sla is not None and elapsed_ms <= sla)
    return out


def scope_of(definition: MetricDefinition, event: CanonicalEvent) -> tuple[str, ...]:
    return tuple(str(_dimension(definition, event, d) or UNKNOWN) for d in definition.dimensions)


def _dimension(definition: MetricDefinition, event: CanonicalEvent, name: str) -> str | None:
    if name == "arm":  # an experiment's arm, tagged per metric (domain.impact.experiments)
        return event.attributes.get(f"arm:{definition.id}")
    if name in ATTRIBUTE_DIMENSIONS:
        return event.attributes.get(name)
    value = getattr(event, name)
    return str(value) if value is not None else None


def is_late(spec: MetricsSpec, event: CanonicalEvent) -> bool:
    """Later than the end of its finest bucket + grace, measured on the event's own ingest time, so that a
    replay decides the same way."""
    finest = spec.finest_ms
    end = bucket_start(to_ms(event.event_time), finest) + finest
    return to_ms(event.ingest_time) > end + spec.grace_ms


def is_detractor(event: CanonicalEvent) -> bool:
    survey = event.survey
    if survey is None:
        return False
    low, high = DETRACTOR[survey.metric]
    return low <= survey.score <= high


def updates_for(spec: MetricsSpec, event: CanonicalEvent, partition: int, drivers: Iterable[str] = ()) -> list[Update]:
    """Table updates for one event: one per matching definition, in the finest grain."""
    event_ms = to_ms(event.event_time)
    grain = spec.finest_ms
    detractor_drivers = tuple(drivers) if is_detractor(event) else ()
    out = []
    for definition in spec.definitions:
        delta = measure(definition, event)
        if delta is None:
            continue
        key = CellKey(definition.id, grain, bucket_start(event_ms, grain), partition, scope_of(definition, event))
        out.append(Update(key, delta, detractor_drivers if definition.indicator in SURVEY_INDICATORS else ()))
    return out
