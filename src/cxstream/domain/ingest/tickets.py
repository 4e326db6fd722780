"""Ticket creation times for events that do not carry them, and what a ticket's life has held so far.

A helpdesk's "first reply" notice (e.g. a Zendesk ticket metric event) names the ticket but not when it was
opened, and first-response time needs both. Normalization remembers when each ticket was created (from its
creation event) and fills ``operation.created_at`` into later events of the same ticket that lack it. Raw
records are keyed by ticket id, so a ticket's events share a raw partition and this needs no repartition.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from cxstream.domain.base import to_ms
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation
from cxstream.domain.ingest.memory import TicketCreation
from cxstream.domain.tolerance.bands import FIRST_REPLY_ATTRIBUTE, RESOLUTION_ATTRIBUTE

TOUCHES_ATTRIBUTE = "touches"
REOPENED_ATTRIBUTE = "reopened"
LIFE_EVENTS = frozenset({EventType.TICKET_REPLY, EventType.TICKET_FIRST_REPLY, EventType.TICKET_SOLVED,
                         EventType.TICKET_REOPENED})  # fmt: skip


def ticket_key(event: CanonicalEvent) -> str | None:
    op = event.operation
    if op is None or not op.ticket_id:
        return None
    return f"{event.source}:{op.ticket_id}"


def creation_ms(event: CanonicalEvent) -> int | None:
    """When the ticket of a creation event was opened (its created_at, else the event time)."""
    if event.event_type is not EventType.TICKET_CREATED or ticket_key(event) is None:
        return None
    assert event.operation is not None
    when = event.operation.created_at or event.event_time
    return to_ms(when)


def with_creation(event: CanonicalEvent, created_ms: int | None) -> CanonicalEvent:
    """The event with ``operation.created_at`` filled in, when it lacked it and the creation is known."""
    op = event.operation
    if created_ms is None or op is None or op.created_at is not None:
        return event
    created = datetime.fromtimestamp(created_ms / 1000, UTC)
    operation = Operation.model_validate({**op.model_dump(), "created_at": created})
    return event.model_copy(update={"operation": operation})


def touches_bucket(touches: int) -> str:
    return str(touches) if touches < 3 else "3+"


def with_life(event: CanonicalEvent, known: TicketCreation | None) -> CanonicalEvent:
    """The event with its ticket's touches and reopens so far (as attributes), for a later event of a known ticket;
    a rating of a known ticket gets its first-response and resolution times (what customer tolerance weighs)."""
    if known is not None and event.event_type is EventType.SURVEY_RESPONSE:
        return _with_times(event, known)
    if known is None or event.event_type not in LIFE_EVENTS:
        return event
    attributes = {**event.attributes, TOUCHES_ATTRIBUTE: touches_bucket(known.touches),
                  REOPENED_ATTRIBUTE: "yes" if known.reopens else "no"}  # fmt: skip
    return event.model_copy(update={"attributes": attributes})


def _with_times(event: CanonicalEvent, known: TicketCreation) -> CanonicalEvent:
    times = {}
    if known.first_reply_ms is not None and known.first_reply_ms >= known.created_ms:
        times[FIRST_REPLY_ATTRIBUTE] = f"{(known.first_reply_ms - known.created_ms) / 60_000:.1f}"
    if known.solved_ms is not None and known.solved_ms >= known.created_ms:
        times[RESOLUTION_ATTRIBUTE] = f"{(known.solved_ms - known.created_ms) / 3_600_000:.2f}"
    times = {k: v for k, v in times.items() if k not in event.attributes}
    return event.model_copy(update={"attributes": {**event.attributes, **times}}) if times else event


def _when(event: CanonicalEvent) -> int:
    op = event.operation
    return to_ms(op.actual_at if op is not None and op.actual_at is not None else event.event_time)


def lived(event: CanonicalEvent, known: TicketCreation | None) -> TicketCreation | None:
    """The ticket's memory after this event, when the event changes it (a reply, a reopen, the first reply or a
    solving of a known ticket)."""
    if known is None:
        return None
    if event.event_type is EventType.TICKET_REPLY:
        return replace(known, touches=known.touches + 1)
    if event.event_type is EventType.TICKET_REOPENED:
        return replace(known, reopens=known.reopens + 1)
    if event.event_type is EventType.TICKET_FIRST_REPLY and known.first_reply_ms is None:
        return replace(known, first_reply_ms=_when(event))
    if event.event_type is EventType.TICKET_SOLVED:
        return replace(known, solved_ms=_when(event))
    return None
