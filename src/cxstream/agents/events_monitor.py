"""Watches ``cx.events``: every record must decode with the canonical schema; the ones that do not go to
the dead-letter topic with the reason. Counts events by source and type and measures source delay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import faust

from cxstream.agents.dead_letters import DeadLetterSink
from cxstream.domain.dead_letter import Reason, Stage
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import EVENT_INGEST_DELAY, EVENTS
from cxstream.serde.avro import AvroCodec, DecodeError

EVENTS_TOPIC = "cx.events"
log = get_logger(__name__)


def register(app: faust.App, codec: AvroCodec, dead_letters: DeadLetterSink) -> None:
    topic = app.topic(EVENTS_TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="cxstream.events-monitor")
    async def events_monitor(stream: Any) -> None:
        async for event in stream.events():
            try:
                record = codec.decode(event.value)
            except DecodeError as exc:
                await dead_letters.send(
                    event, source=EVENTS_TOPIC, stage=Stage.DECODE, reasons=[Reason("decode.avro", str(exc))]
                )
                continue
            try:
                observe(record)
            except Exception as exc:  # one odd record must never stop the agent
                log.exception("events_monitor_failed", offset=event.message.offset)
                await dead_letters.send(
                    event,
                    source=EVENTS_TOPIC,
                    stage=Stage.PROCESS,
                    reasons=[Reason("process.events_monitor", f"{type(exc).__name__}: {exc}")],
                    event_id=record.get("event_id"),
                )


def observe(record: dict[str, Any]) -> None:
    source = str(record["source"])
    EVENTS.labels(source=source, event_type=str(record["event_type"])).inc()
    event_time, ingest_time = record["event_time"], record["ingest_time"]
    if isinstance(event_time, datetime) and isinstance(ingest_time, datetime):
        EVENT_INGEST_DELAY.labels(source=source).observe(max(0.0, (ingest_time - event_time).total_seconds()))
