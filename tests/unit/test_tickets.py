"""Creation times carried over to later events of the same ticket (first-response time needs them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation
from cxstream.domain.ingest.tickets import creation_ms, ticket_key, with_creation

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def ticket_event(event_type: EventType, created: datetime | None = None) -> CanonicalEvent:
    return CanonicalEvent(
        event_id=f"e-{event_type.value}", event_type=event_type, event_time=NOW, ingest_time=NOW, source="helpdesk",
        source_record_id="r", operation=Operation(ticket_id="T-1", created_at=created, actual_at=NOW),
    )  # fmt: skip


def test_a_creation_event_gives_the_ticket_its_creation_time() -> None:
    created = ticket_event(EventType.TICKET_CREATED, NOW - timedelta(minutes=3))
    assert ticket_key(created) == "helpdesk:T-1"
    assert creation_ms(created) == int((NOW - timedelta(minutes=3)).timestamp() * 1000)
    assert creation_ms(ticket_event(EventType.TICKET_FIRST_REPLY)) is None


def test_a_first_reply_without_creation_time_gets_it_and_others_keep_theirs() -> None:
    known = int((NOW - timedelta(minutes=42)).timestamp() * 1000)
    reply = with_creation(ticket_event(EventType.TICKET_FIRST_REPLY), known)
    assert reply.operation is not None and reply.operation.created_at == NOW - timedelta(minutes=42)
    own = ticket_event(EventType.TICKET_SOLVED, NOW - timedelta(hours=2))
    assert with_creation(own, known) == own
    assert with_creation(ticket_event(EventType.TICKET_FIRST_REPLY), None).operation.created_at is None  # type: ignore[union-attr]
