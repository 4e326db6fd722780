"""Reads ``cx.events`` once for everything done per canonical event: every record must decode with the
canonical schema (the ones that do not go to the dead-letter topic with the reason); events are counted by
source and type, source delay is measured, the live metric tables are updated, and the hot-alert rules are
tried on records the normalizing agent has not tried them on (what they raise goes to the routing side's control
topic, and so do agents' status changes, for the staffing gaps); partner feedback is republished on
``cx.partner-feedback``. Events too late for their windows are counted and dead-lettered with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import faust

from cxstream.agents.alerting import Control
from cxstream.agents.dead_letters import DeadLetterSink, message_headers
from cxstream.agents.guard import Guards
from cxstream.agents.history import HistorySink
from cxstream.agents.invites import Contacts
from cxstream.agents.metric_tables import MetricTables
from cxstream.agents.partner_feedback import FeedbackSink
from cxstream.domain.alerting.control import PresenceInput
from cxstream.domain.alerting.hot_alerts import HotAlertRule
from cxstream.domain.catalog import Topics
from cxstream.domain.ingest.dead_letter import Reason, Stage
from cxstream.domain.ingest.events import HOT_RULES_HEADER, CanonicalEvent, EventType
from cxstream.domain.locations.feedback import FeedbackError
from cxstream.domain.workforce.presence import Presence
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import EVENT_INGEST_DELAY, EVENTS, LATE_EVENTS, child
from cxstream.serde.avro import AvroCodec

EVENTS_TOPIC = Topics.EVENTS
AGENT = "cxstream.events-monitor"
AGENT_STATUS = EventType.AGENT_STATUS.value
PARTNER_FEEDBACK = EventType.PARTNER_FEEDBACK.value
log = get_logger(__name__)


def register(
    app: faust.App,
    codec: AvroCodec,
    dead_letters: DeadLetterSink,
    guards: Guards,
    metrics: MetricTables | None = None,
    hot_rules: Sequence[HotAlertRule] = (),
    control: Control | None = None,
    contacts: Contacts | None = None,
    history: HistorySink | None = None,
    feedback: FeedbackSink | None = None,
) -> None:
    topic = app.topic(EVENTS_TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    guard = guards.of(AGENT)

    @app.agent(topic, name=AGENT)
    async def events_monitor(stream: Any) -> None:
        await guard.hold()  # a restarted agent stopped at the limit stays stopped
        async for event in stream.events():
            record = await dead_letters.decoded(event, codec, EVENTS_TOPIC)
            if record is not None:
                await guard.run(event, (event, record), _handle, _failed)

    async def _handle(item: tuple[Any, dict[str, Any]]) -> None:
        event, record = item
        observe(record)
        canonical = None
        if metrics is not None and metrics.enabled:
            canonical = CanonicalEvent.from_record(record)
            await _update_metrics(event, canonical)
        if hot_rules and control is not None and HOT_RULES_HEADER not in message_headers(event.message):
            canonical = canonical or CanonicalEvent.from_record(record)
            await control.try_hot_rules(hot_rules, canonical)
        if control is not None and control.staffing is not None and record["event_type"] == AGENT_STATUS:
            presence = Presence.of(canonical or CanonicalEvent.from_record(record))
            if presence is not None:
                await control.send(PresenceInput(presence))
        if contacts is not None:
            await contacts.event(canonical or CanonicalEvent.from_record(record))
        if feedback is not None and record["event_type"] == PARTNER_FEEDBACK:
            try:
                await feedback.publish(canonical or CanonicalEvent.from_record(record))
            except FeedbackError as exc:
                await dead_letters.send(event, source=EVENTS_TOPIC, stage=Stage.PROCESS,
                                        reasons=[Reason("feedback.fields", str(exc))],
                                        event_id=record.get("event_id"))  # fmt: skip

    async def _failed(item: tuple[Any, dict[str, Any]], exc: Exception) -> None:
        event, record = item
        log.exception("events_monitor_failed", offset=event.message.offset)
        await dead_letters.send(
            event,
            source=EVENTS_TOPIC,
            stage=Stage.PROCESS,
            reasons=[Reason("process.events_monitor", f"{type(exc).__name__}: {exc}")],
            event_id=record.get("event_id"),
        )

    async def _update_metrics(event: Any, canonical: CanonicalEvent) -> None:
        assert metrics is not None
        message = event.message
        metrics.handled(message.partition, message.offset)
        metrics.advance(canonical, message.partition)
        if metrics.is_late(canonical):
            if metrics.matches(canonical, message.partition):
                LATE_EVENTS.labels(source=canonical.source).inc()
                reason = Reason(
                    "metrics.late",
                    f"{canonical.event_id} from {canonical.source}: event time {canonical.event_time.isoformat()} "
                    f"arrived {canonical.ingest_time.isoformat()}, after its bucket's end + grace "
                    f"({metrics.spec.grace})",
                )
                await dead_letters.send(
                    event, source=EVENTS_TOPIC, stage=Stage.LATE, reasons=[reason], event_id=canonical.event_id
                )
        else:
            metrics.apply(canonical, message.partition, message.offset)
        closed = metrics.drain()
        if closed and history is not None:
            await history.publish(closed)


def observe(record: dict[str, Any]) -> None:
    source = str(record["source"])
    child(EVENTS, source, str(record["event_type"])).inc()
    event_time, ingest_time = record["event_time"], record["ingest_time"]
    if isinstance(event_time, datetime) and isinstance(ingest_time, datetime):
        child(EVENT_INGEST_DELAY, source).observe(max(0.0, (ingest_time - event_time).total_seconds()))
