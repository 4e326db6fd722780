"""Silences from ``cx.silences``, forwarded to the routing side's control topic. (What happens to cases reaches
it from the cases agent, once the state machine accepted the action.) A record that does not decode
goes to the dead-letter topic with the reason; the agents go on."""

from __future__ import annotations

from typing import Any

import faust

from cxstream.agents.alerting import Control
from cxstream.agents.dead_letters import DeadLetterSink
from cxstream.domain.dead_letter import Reason, Stage
from cxstream.domain.silences import silence_from_record
from cxstream.observability.logging import get_logger
from cxstream.serde.avro import AvroCodec

SILENCES_TOPIC = "cx.silences"
log = get_logger(__name__)


def register(
    app: faust.App,
    control: Control,
    silences: AvroCodec,
    dead_letters: DeadLetterSink,
) -> None:
    def raw_topic(name: str) -> Any:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    async def refuse(event: Any, source: str, exc: Exception) -> None:
        log.exception("alert_input_failed", topic=source, offset=event.message.offset)
        await dead_letters.send(
            event, source=source, stage=Stage.PROCESS, reasons=[Reason("process.alert_input", f"{exc}")]
        )

    @app.agent(raw_topic(SILENCES_TOPIC), name="cxstream.silences")
    async def silences_in(stream: Any) -> None:
        async for event in stream.events():
            record = await dead_letters.decoded(event, silences, SILENCES_TOPIC)
            if record is None:
                continue
            try:
                await control.silence(silence_from_record(record))
            except Exception as exc:  # e.g. a silence without author or reason
                await refuse(event, SILENCES_TOPIC, exc)
