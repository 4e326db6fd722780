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


def test_a_tickets_life_counts_replies_and_reopens_and_the_tiers_can_test_it() -> None:
    from cxstream.app import load_context
    from cxstream.domain.ingest.memory import TicketCreation
    from cxstream.domain.ingest.tickets import lived, with_life
    from cxstream.domain.workforce.tiers import tier_of
    from cxstream.settings import Settings

    opened = TicketCreation(1_000, 2)
    assert TicketCreation.from_json(opened.to_json()) == opened and opened.to_json() == [1_000, 2]  # as before
    memory = opened
    for _ in range(3):
        changed = lived(ticket_event(EventType.TICKET_REPLY), memory)
        assert changed is not None
        memory = changed
    assert (memory.touches, memory.reopens) == (3, 0) and TicketCreation.from_json(memory.to_json()) == memory
    solving = lived(ticket_event(EventType.TICKET_SOLVED), memory)  # remembered for a later rating of the ticket
    assert solving is not None and solving.solved_ms is not None and solving.touches == 3
    assert TicketCreation.from_json(solving.to_json()) == solving
    assert lived(ticket_event(EventType.TICKET_REPLY), None) is None  # a ticket opened before cxstream saw it
    solved = with_life(ticket_event(EventType.TICKET_SOLVED), memory)
    assert solved.attributes == {"touches": "3+", "reopened": "no"}
    again = lived(ticket_event(EventType.TICKET_REOPENED), opened)
    assert again is not None and with_life(ticket_event(EventType.TICKET_SOLVED), again).attributes == {
        "touches": "0", "reopened": "yes"}  # fmt: skip
    assert with_life(ticket_event(EventType.TICKET_CREATED), memory).attributes == {}  # nothing to tell yet
    tiers = load_context(Settings()).topology.workforce.tiers
    plain = ticket_event(EventType.TICKET_SOLVED).model_copy(update={"team": "customer-service"})
    assert tier_of(tiers, plain) == "standard"
    assert tier_of(tiers, with_life(plain, memory)) == "complex"  # three replies before it was solved
    assert tier_of(tiers, with_life(plain, again)) == "complex"  # it came back
