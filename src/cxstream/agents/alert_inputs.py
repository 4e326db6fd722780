"""Silences from ``cx.silences``, forwarded to the routing side's control topic. (What happens to cases reaches
it from the cases agent, once the state machine accepted the action.) A record that does not decode
goes to the dead-letter topic with the reason; the agents go on."""

from __future__ import annotations

from typing import Any

import faust

from cxstream.agents.alerting import Control
from cxstream.agents.dead_letters import DeadLetterSink
from cxstream.agents.guard import Guards
from cxstream.domain.alerting.silences import silence_from_record
from cxstream.domain.catalog import Topics
from cxstream.domain.ingest.dead_letter import Reason, Stage
from cxstream.observability.logging import get_logger
from cxstream.serde.avro import AvroCodec

SILENCES_TOPIC = Topics.SILENCES
AGENT = "cxstream.silences"
log = get_logger(__name__)


def register(
    app: faust.App,
    control: Control,
    silences: AvroCodec,
    dead_letters: DeadLetterSink,
    guards: Guards,
) -> None:
    def raw_topic(name: str) -> Any:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    async def refuse(event: Any, source: str, exc: Exception) -> None:
        log.exception("alert_input_failed", topic=source, offset=event.message.offset)
        await dead_letters.send(
            event, source=source, stage=Stage.PROCESS, reasons=[Reason("process.alert_input", f"{exc}")]
        )

    guard = guards.of(AGENT)

    async def forward(item: tuple[Any, dict[str, Any]]) -> None:
        await control.silence(silence_from_record(item[1]))  # raises e.g. for a silence without author or reason

    async def refused(item: tuple[Any, dict[str, Any]], exc: Exception) -> None:
        await refuse(item[0], SILENCES_TOPIC, exc)

    @app.agent(raw_topic(SILENCES_TOPIC), name=AGENT)
    async def silences_in(stream: Any) -> None:
        await guard.hold()  # a restarted agent stopped at the limit stays stopped
        async for event in stream.events():
            record = await dead_letters.decoded(event, silences, SILENCES_TOPIC)
            if record is not None:
                await guard.run(event, (event, record), forward, refused)
