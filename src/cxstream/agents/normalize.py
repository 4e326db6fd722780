"""Raw records -> canonical Avro events on ``cx.events``; everything else to ``cx.dlq``. Nothing is lost:
every record received is counted as normalized, dead-lettered, duplicate or ignored.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import faust

from cxstream.agents.dead_letters import DeadLetterSink, message_headers
from cxstream.agents.housekeeping import PartitionClock, expire
from cxstream.connectors.base import MANUAL_ORIGIN, ORIGIN_HEADER, Connector, RawContext
from cxstream.connectors.pipeline import normalize_record
from cxstream.domain.dead_letter import Reason, Stage
from cxstream.domain.enrichment import Enricher
from cxstream.domain.events import CanonicalEvent
from cxstream.domain.tickets import creation_ms, ticket_key, with_creation
from cxstream.domain.validation import Validator, is_duplicate
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import (
    EVENTS_PUBLISHED,
    RECORDS_DUPLICATE,
    RECORDS_IGNORED,
    RECORDS_NORMALIZED,
    RECORDS_RECEIVED,
    VALIDATION_FINDINGS,
)

SEEN_TABLE = "cxstream-seen-event-ids"
TICKETS_TABLE = "cxstream-ticket-created"
log = get_logger(__name__)


def register(
    app: faust.App,
    connectors: dict[str, Connector],
    validator: Validator,
    events_serializer: str,
    dead_letters: DeadLetterSink,
    partitions: int,
    enrich: Enricher | None = None,
) -> None:
    if not connectors:
        return
    raw_topics = app.topic(
        *sorted(connectors), key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    events = app.topic("cx.events", key_type=bytes, key_serializer="raw", value_serializer=events_serializer)
    # event id -> [first seen ms, raw partition, raw topic, raw offset]; expires after the duplicate horizon
    seen = app.Table(SEEN_TABLE, default=None, key_type=str, value_type=None, partitions=partitions)
    # ticket -> [created ms, raw partition]: fills created_at into later events of the ticket (first replies)
    tickets = app.Table(TICKETS_TABLE, default=None, key_type=str, value_type=None, partitions=partitions)
    horizon_ms = int(validator.duplicate_horizon.total_seconds() * 1000)
    ticket_horizon_ms = int(validator.horizon.total_seconds() * 1000)
    seen_clock, tickets_clock = PartitionClock(horizon_ms), PartitionClock(ticket_horizon_ms)

    def enrich_with_tickets(canonical: CanonicalEvent) -> CanonicalEvent:
        enriched = enrich(canonical) if enrich is not None else canonical
        key = ticket_key(enriched)
        known = tickets.get(key) if key is not None else None
        return with_creation(enriched, int(known[0]) if known else None)

    def remember_ticket(canonical: CanonicalEvent, partition: int) -> None:
        created = creation_ms(canonical)
        key = ticket_key(canonical)
        if created is not None and key is not None and tickets.get(key) is None:
            tickets[key] = [created, partition]

    def duplicate(event_id: str, now_ms: int, message: Any) -> bool:
        value = seen.get(event_id)
        if value is None:
            return False
        first = (str(value[2]), int(value[3])) if len(value) >= 4 else None
        return is_duplicate(int(value[0]), now_ms, horizon_ms, first, (message.topic, message.offset))

    def forget(partition: int) -> None:
        """This partition's event ids older than the duplicate horizon, and its tickets opened before the
        validation horizon (no event that old is accepted any more); see ``agents.housekeeping``."""
        now_ms = int(time.time() * 1000)
        if seen_clock.due(partition):
            expire(seen, partition, now_ms - horizon_ms)
        if tickets_clock.due(partition):
            expire(tickets, partition, now_ms - ticket_horizon_ms)

    @app.agent(raw_topics, name="cxstream.normalize")
    async def normalize(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            connector = connectors[message.topic]
            source = connector.name
            RECORDS_RECEIVED.labels(source=source).inc()
            try:
                await _handle(event, connector, source)
            except Exception as exc:  # a bug must cost one record (kept in cx.dlq), never the agent
                log.exception(
                    "normalize_failed", topic=message.topic, partition=message.partition, offset=message.offset
                )
                await dead_letters.send(
                    event,
                    source=source,
                    stage=Stage.PROCESS,
                    reasons=[Reason("process.normalize", f"{type(exc).__name__}: {exc}")],
                )

    async def _handle(event: Any, connector: Connector, source: str) -> None:
        message = event.message
        headers = message_headers(message)
        context = RawContext(
            ingest_time=datetime.now(UTC), manual=headers.get(ORIGIN_HEADER) == MANUAL_ORIGIN, headers=headers
        )
        outcome = normalize_record(connector, message.value or b"", context, validator, enrich_with_tickets)
        for finding in outcome.findings:
            VALIDATION_FINDINGS.labels(source=source, rule=finding.rule_id, action=finding.action.value).inc()
        if outcome.rejects:
            assert outcome.stage is not None
            await dead_letters.send(event, source=source, stage=outcome.stage, reasons=outcome.rejects)
            return
        if outcome.ignored:
            RECORDS_IGNORED.labels(source=source).inc()
            return
        now_ms = int(time.time() * 1000)
        fresh = [e for e in outcome.events if not duplicate(e.event_id, now_ms, message)]
        if not fresh:
            RECORDS_DUPLICATE.labels(source=source).inc()
            return
        for canonical in fresh:
            await events.send(key=canonical.key.encode(), value=canonical.to_record())
            seen[canonical.event_id] = [now_ms, message.partition, message.topic, message.offset]
            remember_ticket(canonical, message.partition)
            EVENTS_PUBLISHED.labels(source=source, event_type=canonical.event_type.value).inc()
        RECORDS_NORMALIZED.labels(source=source).inc()
        forget(message.partition)
