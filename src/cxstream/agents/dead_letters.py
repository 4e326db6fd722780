"""Sends a consumed Faust event to ``cx.dlq`` with its reasons and original bytes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import faust

from cxstream.domain import base
from cxstream.domain.base import Record
from cxstream.domain.catalog import Topics
from cxstream.domain.ingest.dead_letter import Reason, SourcePosition, Stage, dead_letter_record
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import DEAD_LETTERS
from cxstream.serde.avro import AvroCodec, DecodeError

DLQ_TOPIC = Topics.DLQ
log = get_logger(__name__)


def message_headers(message: Any) -> dict[str, bytes]:
    raw = message.headers or {}
    items = raw.items() if isinstance(raw, dict) else raw
    return {str(k): (v if isinstance(v, bytes) else str(v).encode()) for k, v in items}


def _as_bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode()


class DeadLetterSink:
    """Sends dead letters to ``cx.dlq``, each within ``max_bytes`` (the topic's ``max.message.bytes`` and the
    producer's request limit): a record too large to be carried whole is carried in part, with its size, digest
    and source position (see :func:`~cxstream.domain.ingest.dead_letter.fit`), never lost."""

    def __init__(self, app: faust.App, value_serializer: str, max_bytes: int) -> None:
        self.topic = app.topic(DLQ_TOPIC, key_type=bytes, key_serializer="raw", value_serializer=value_serializer)
        self.max_bytes = max_bytes

    async def send(
        self,
        event: Any,
        *,
        source: str,
        stage: Stage,
        reasons: Iterable[Reason],
        event_id: str | None = None,
    ) -> None:
        message = event.message
        reasons = list(reasons)
        position = SourcePosition(message.topic, message.partition, message.offset, _ms(message.timestamp))
        record = dead_letter_record(
            source=source,
            stage=stage,
            reasons=reasons,
            position=position,
            value=_as_bytes(message.value),
            key=_as_bytes(message.key),
            headers=message_headers(message),
            now_ms=base.now_ms(),
            event_id=event_id,
            max_bytes=self.max_bytes,
        )
        await self.topic.send(key=source.encode(), value=record)
        DEAD_LETTERS.labels(source=source, stage=stage.value).inc()
        log.warning(
            "dead_lettered",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            stage=stage.value,
            rules=[r.rule_id for r in reasons],
            truncated=record["original_size"] is not None,
        )

    async def decoded(self, event: Any, codec: AvroCodec, source: str) -> Record | None:
        """The event's value decoded with ``codec``, or None once it has been dead-lettered as undecodable."""
        try:
            return codec.decode(event.value)
        except DecodeError as exc:
            await self.send(event, source=source, stage=Stage.DECODE, reasons=[Reason("decode.avro", str(exc))])
            return None


def _ms(timestamp: float | None) -> int | None:
    return int(timestamp * 1000) if timestamp else None
