"""``topologies/cases.yaml``: how escalations are followed up (case SLAs, customer call-backs, recurrence)
and how customers are asked for feedback without wearing them out (invite triggers, contact policy)."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field, field_validator

from cxstream.domain.base import Strict, to_ms
from cxstream.domain.cases.contact_policy import ContactPolicy, InviteRequest
from cxstream.domain.cases.machine import CasePolicy
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.ingest.events import CanonicalEvent, EventType, SurveyMetric

#: Event fields an invite request carries as labels (the contact policy's cap may be counted per any of them).
INVITE_LABELS = ("region", "site", "team", "channel", "journey_stage", "touchpoint", "customer_segment")


class InviteTrigger(Strict):
    """An operational event after which the customer is asked a survey question."""

    event_type: EventType
    survey: SurveyMetric
    delay: str = Field("0s", description="ask this long after the event (e.g. a day after delivery)")

    @field_validator("delay")
    @classmethod
    def _delay(cls, value: str) -> str:
        parse_duration_ms(value)
        return value


class FollowUp(Strict):
    cases: CasePolicy = CasePolicy()
    contact_policy: ContactPolicy = ContactPolicy()
    invite_triggers: tuple[InviteTrigger, ...] = ()


def invite_requests(triggers: Iterable[InviteTrigger], event: CanonicalEvent) -> list[InviteRequest]:
    """The survey invite requests one event triggers (before the contact policy)."""
    at = to_ms(event.event_time)
    labels = {name: str(getattr(event, name)) for name in INVITE_LABELS if getattr(event, name)}
    return [
        InviteRequest(
            request_id=f"inv-{event.event_id}-{t.survey.value.lower()}",
            customer_id=event.customer_id,
            at_ms=at + parse_duration_ms(t.delay),
            survey=t.survey.value,
            labels={**labels, "trigger": event.event_type.value},
        )
        for t in triggers
        if t.event_type is event.event_type
    ]
