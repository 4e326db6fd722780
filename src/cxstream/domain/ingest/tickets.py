"""Ticket creation times for events that do not carry them, and what a ticket's life has held so far.

A helpdesk's "first reply" notice (e.g. a Zendesk ticket metric event) names the ticket but not when it was
opened, and first-response time needs both. Normalization remembers when each ticket was created (from its
creation event) and fills ``operation.created_at`` into later events of the same ticket that lack it. Raw
records are keyed by ticket id, so a ticket's events share a raw partition and this needs no repartition.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cxstream.domain.base import to_ms
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation
from cxstream.domain.ingest.memory import TicketCreation

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
    """The event with its ticket's touches and reopens so far (as attributes), for a later event of a known ticket."""
    if known is None or event.event_type not in LIFE_EVENTS:
        return event
    attributes = {**event.attributes, TOUCHES_ATTRIBUTE: touches_bucket(known.touches),
                  REOPENED_ATTRIBUTE: "yes" if known.reopens else "no"}  # fmt: skip
    return event.model_copy(update={"attributes": attributes})


def lived(event: CanonicalEvent, known: TicketCreation | None) -> TicketCreation | None:
    """The ticket's memory after this event, when the event changes it (a reply or a reopen of a known ticket)."""
    if known is None:
        return None
    if event.event_type is EventType.TICKET_REPLY:
        return TicketCreation(known.created_ms, known.partition, known.touches + 1, known.reopens)
    if event.event_type is EventType.TICKET_REOPENED:
        return TicketCreation(known.created_ms, known.partition, known.touches, known.reopens + 1)
    return None
