"""Reads ``cx.events`` once for everything done per canonical event: every record must decode with the
canonical schema (the ones that do not go to the dead-letter topic with the reason); events are counted by
source and type, source delay is measured, the live metric tables are updated, and the hot-alert rules are
tried on records the normalizing agent has not tried them on (what they raise goes to the routing side's control
topic, and so do agents' status changes, for the staffing gaps); partner feedback is republished on
``cx.partner-feedback``. Events too late for their windows are counted and dead-lettered with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust

from cxstream.agents.alerting import Control
from cxstream.agents.dead_letters import DeadLetterSink, message_headers
from cxstream.agents.guard import Guards
from cxstream.agents.history import HistorySink
from cxstream.agents.invites import Contacts
from cxstream.agents.metric_tables import MetricTables
from cxstream.agents.partner_feedback import FeedbackSink
from cxstream.agents.recent_events import RecentEvents
from cxstream.domain.alerting.control import PresenceInput
from cxstream.domain.alerting.hot_alerts import HotAlertRule
from cxstream.domain.base import Record
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
READER = "events-agent"  # in cxstream_events_read_back_total
#: what the agent reads: an event this worker published (found in its recent events), or a decoded record
Read = CanonicalEvent | Record
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
    recent: RecentEvents | None = None,
) -> None:
    """An event this worker published itself is taken from ``recent`` when it is still there, not decoded again."""
    topic = app.topic(EVENTS_TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    guard = guards.of(AGENT)

    @app.agent(topic, name=AGENT)
    async def events_monitor(stream: Any) -> None:
        await guard.hold()  # a restarted agent stopped at the limit stays stopped
        async for event in stream.events():
            found = recent.find(event.value, READER) if recent is not None else None
            if found is not None:
                await guard.run(event, (event, found), _handle, _failed)
                continue
            record = await dead_letters.decoded(event, codec, EVENTS_TOPIC)
            if record is not None:
                await guard.run(event, (event, record), _handle, _failed)

    async def _handle(item: tuple[Any, Read]) -> None:
        event, read = item
        # a decoded record the canonical model refuses fails here, and goes to the dead-letter topic
        canonical = read if isinstance(read, CanonicalEvent) else CanonicalEvent.from_record(read)
        observe(canonical)
        if metrics is not None and metrics.enabled:
            await _update_metrics(event, canonical)
        if hot_rules and control is not None and HOT_RULES_HEADER not in message_headers(event.message):
            await control.try_hot_rules(hot_rules, canonical)
        if control is not None and control.staffing is not None and canonical.event_type is EventType.AGENT_STATUS:
            presence = Presence.of(canonical)
            if presence is not None:
                await control.send(PresenceInput(presence))
        if contacts is not None:
            await contacts.event(canonical)
        if feedback is not None and canonical.event_type is EventType.PARTNER_FEEDBACK:
            try:
                await feedback.publish(canonical)
            except FeedbackError as exc:
                await dead_letters.send(event, source=EVENTS_TOPIC, stage=Stage.PROCESS,
                                        reasons=[Reason("feedback.fields", str(exc))],
                                        event_id=canonical.event_id)  # fmt: skip

    async def _failed(item: tuple[Any, Read], exc: Exception) -> None:
        event, read = item
        log.exception("events_monitor_failed", offset=event.message.offset)
        await dead_letters.send(
            event,
            source=EVENTS_TOPIC,
            stage=Stage.PROCESS,
            reasons=[Reason("process.events_monitor", f"{type(exc).__name__}: {exc}")],
            event_id=event_id_of(read),
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


def event_id_of(read: Read) -> str | None:
    if isinstance(read, CanonicalEvent):
        return read.event_id
    value = read.get("event_id")
    return value if isinstance(value, str) else None


def observe(event: CanonicalEvent) -> None:
    child(EVENTS, event.source, event.event_type.value).inc()
    delay = (event.ingest_time - event.event_time).total_seconds()
    child(EVENT_INGEST_DELAY, event.source).observe(max(0.0, delay))
