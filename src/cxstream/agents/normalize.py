"""Raw records -> canonical Avro events on ``cx.events``; everything else to ``cx.dlq``. Nothing is lost:
every record received is counted as normalized, dead-lettered, duplicate or ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import faust

from cxstream.agents import outbox
from cxstream.agents.alerting import Control
from cxstream.agents.dead_letters import DeadLetterSink, message_headers
from cxstream.agents.guard import Guards
from cxstream.agents.housekeeping import PartitionClock
from cxstream.agents.recent_events import RecentEvents
from cxstream.agents.stores import Store
from cxstream.connectors.base import MANUAL_ORIGIN, ORIGIN_HEADER, Connector, RawContext
from cxstream.connectors.pipeline import normalize_record
from cxstream.domain import base
from cxstream.domain.alerting.hot_alerts import HotAlertRule
from cxstream.domain.catalog import Tables, Topics
from cxstream.domain.ingest.dead_letter import Reason, Stage
from cxstream.domain.ingest.enrichment import Enricher
from cxstream.domain.ingest.events import HOT_RULES_HEADER, TYPE_HEADER, CanonicalEvent
from cxstream.domain.ingest.memory import RawPosition, SeenEvent, TicketCreation
from cxstream.domain.ingest.tickets import creation_ms, lived, ticket_key, with_creation, with_life
from cxstream.domain.ingest.validation import Validator
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import (
    EVENTS_PUBLISHED,
    RECORDS_DUPLICATE,
    RECORDS_IGNORED,
    RECORDS_NORMALIZED,
    RECORDS_RECEIVED,
    VALIDATION_FINDINGS,
    child,
)
from cxstream.serde.avro import AvroCodec

AGENT = "cxstream.normalize"
SEEN_TABLE = Tables.SEEN_EVENT_IDS
TICKETS_TABLE = Tables.TICKET_CREATED
log = get_logger(__name__)


def register(
    app: faust.App,
    connectors: dict[str, Connector],
    validator: Validator,
    events_codec: AvroCodec,
    dead_letters: DeadLetterSink,
    partitions: int,
    guards: Guards,
    enrich: Enricher | None = None,
    hot_rules: Sequence[HotAlertRule] = (),
    control: Control | None = None,
    recent: RecentEvents | None = None,
) -> None:
    """``hot_rules`` are tried on each new canonical event here, where it is made, and what they raise goes to the
    routing side's ``control`` at once: a hot alert no longer waits in ``cx.events`` behind the backlog. The record
    then carries ``HOT_RULES_HEADER``, so the events agent does not try them again. Each event published is
    remembered in ``recent`` with its bytes, for the readers of ``cx.events`` in this worker."""
    if not connectors:
        return
    hot = control if hot_rules else None
    raw_topics = app.topic(
        *sorted(connectors), key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    events = app.topic(Topics.EVENTS, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    # event id -> when and where it was first published; expires after the duplicate horizon
    seen = Store(app.Table(SEEN_TABLE, default=None, key_type=str, value_type=None, partitions=partitions),
                 SeenEvent.from_json, SeenEvent.to_json)  # fmt: skip
    # ticket -> when it was opened (fills created_at into later events of the ticket: first replies), and its
    # touches and reopens so far (attributes complexity tiers may test)
    tickets = Store(app.Table(TICKETS_TABLE, default=None, key_type=str, value_type=None, partitions=partitions),
                    TicketCreation.from_json, TicketCreation.to_json)  # fmt: skip
    horizon_ms = int(validator.duplicate_horizon.total_seconds() * 1000)
    ticket_horizon_ms = int(validator.horizon.total_seconds() * 1000)
    seen_clock, tickets_clock = PartitionClock(horizon_ms), PartitionClock(ticket_horizon_ms)

    def enrich_with_tickets(canonical: CanonicalEvent) -> CanonicalEvent:
        key = ticket_key(canonical)
        known = tickets.get(key) if key is not None else None
        canonical = with_life(canonical, known)  # before enrichment: complexity tiers may test the ticket's life
        enriched = enrich(canonical) if enrich is not None else canonical
        return with_creation(enriched, known.created_ms if known else None)

    def remember_ticket(canonical: CanonicalEvent, partition: int) -> None:
        created = creation_ms(canonical)
        key = ticket_key(canonical)
        if key is None:
            return
        if created is not None and key not in tickets:
            tickets[key] = TicketCreation(created, partition)
        elif (changed := lived(canonical, tickets.get(key))) is not None:
            tickets[key] = changed

    def duplicate(event_id: str, now_ms: int, message: Any) -> bool:
        value = seen.get(event_id)
        return value is not None and value.duplicates(now_ms, horizon_ms, RawPosition(message.topic, message.offset))

    def forget(partition: int) -> None:
        """This partition's event ids older than the duplicate horizon, and its tickets opened before the
        validation horizon (no event that old is accepted any more); see ``agents.housekeeping``."""
        now_ms = base.now_ms()
        if seen_clock.due(partition):
            seen.expire(partition, now_ms - horizon_ms, partition_of=lambda v: v.partition,
                        time_of=lambda v: v.first_seen_ms)  # fmt: skip
        if tickets_clock.due(partition):
            tickets.expire(partition, now_ms - ticket_horizon_ms, partition_of=lambda v: v.partition,
                           time_of=lambda v: v.created_ms)  # fmt: skip

    async def tried_hot_rules(control: Control, canonical: CanonicalEvent) -> bool:
        """Whether the hot-alert rules were tried on ``canonical`` and what they raised was sent. A failure costs
        neither the event nor its alert: the record goes out without the mark, and the events agent tries again
        (and dead-letters the record with the reason if it fails there too)."""
        try:
            await control.try_hot_rules(hot_rules, canonical)
        except Exception:
            log.exception("hot_rules_failed", event_id=canonical.event_id)
            return False
        return True

    guard = guards.of(AGENT)

    @app.agent(raw_topics, name=AGENT)
    async def normalize(stream: Any) -> None:
        await guard.hold()  # a restarted agent stopped at the limit stays stopped
        async for event in stream.events():
            child(RECORDS_RECEIVED, connectors[event.message.topic].name).inc()
            await guard.run(event, event, _handle, _failed)

    async def _failed(event: Any, exc: Exception) -> None:
        """A bug costs one record (kept in cx.dlq), not the agent (up to the dead-letter limit)."""
        message = event.message
        log.exception("normalize_failed", topic=message.topic, partition=message.partition, offset=message.offset)
        await dead_letters.send(
            event,
            source=connectors[message.topic].name,
            stage=Stage.PROCESS,
            reasons=[Reason("process.normalize", f"{type(exc).__name__}: {exc}")],
        )

    async def _handle(event: Any) -> None:
        message = event.message
        connector = connectors[message.topic]
        source = connector.name
        headers = message_headers(message)
        context = RawContext(
            ingest_time=datetime.now(UTC), manual=headers.get(ORIGIN_HEADER) == MANUAL_ORIGIN, headers=headers
        )
        outcome = normalize_record(connector, message.value or b"", context, validator, enrich_with_tickets)
        for finding in outcome.findings:
            child(VALIDATION_FINDINGS, source, finding.rule_id, finding.action.value).inc()
        if outcome.rejects:
            assert outcome.stage is not None
            await dead_letters.send(event, source=source, stage=outcome.stage, reasons=outcome.rejects)
            return
        if outcome.ignored:
            RECORDS_IGNORED.labels(source=source).inc()
            return
        now_ms = base.now_ms()
        fresh = [e for e in outcome.events if not duplicate(e.event_id, now_ms, message)]
        if not fresh:
            RECORDS_DUPLICATE.labels(source=source).inc()
            return
        for canonical in fresh:
            marks = [(TYPE_HEADER, canonical.event_type.value.encode())]
            if hot is not None and await tried_hot_rules(hot, canonical):
                marks.append((HOT_RULES_HEADER, b"1"))
            value = events_codec.encode(canonical.to_record())
            if recent is not None:
                recent.remember(value, canonical)
            await outbox.send(events, canonical.key.encode(), value, marks)
            seen[canonical.event_id] = SeenEvent(now_ms, message.partition, RawPosition(message.topic, message.offset))
            remember_ticket(canonical, message.partition)
            child(EVENTS_PUBLISHED, source, canonical.event_type.value).inc()
        child(RECORDS_NORMALIZED, source).inc()
        forget(message.partition)
