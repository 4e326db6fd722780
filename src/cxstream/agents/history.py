"""The history topic on a worker: a sink that publishes what the metric tables close, and a feed that reads the
whole topic into a :class:`~cxstream.domain.history.index.HistoryIndex` and keeps following it.

Every worker keeps the whole index (reads answer for every partition without asking the others); the metric
tables consult it to publish each period once, and not to publish before it has caught up with the topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from cxstream.domain.catalog import Topics
from cxstream.domain.history.facts import HistoryEntry
from cxstream.domain.history.index import HistoryIndex
from cxstream.kafka import earliest
from cxstream.kafka.history import decode_entry, encode_entry
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import HISTORY_FACTS, HISTORY_PUBLISHED
from cxstream.serde.avro import AvroCodec, DecodeError

HISTORY_TOPIC = Topics.HISTORY
log = get_logger(__name__)

#: (key text, entry or None for a tombstone): what the metric tables hand over to be published
Outgoing = tuple[str, HistoryEntry | None]


class HistorySink:
    """Publishes history entries; used inside the ``events-monitor`` agent's iteration."""

    def __init__(self, app: faust.App, codec: AvroCodec) -> None:
        self.codec = codec
        self.topic = app.topic(HISTORY_TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw",
                               value_serializer="raw")  # fmt: skip

    async def publish(self, items: Iterable[Outgoing]) -> None:
        for key, entry in items:
            await self.topic.send(key=key.encode(), value=encode_entry(self.codec, entry))
            kind = "tombstone" if entry is None else type(entry).__name__
            HISTORY_PUBLISHED.labels(kind=kind).inc()


class TopicFeed:
    """Reads a topic from the beginning and follows it (no consumer group: every worker reads every partition);
    ``ready`` once it has read up to the ends it found when it started. Subclasses say what a record does."""

    topic: str = ""
    topics: tuple[str, ...] = ()  # a feed of several topics names them here and overrides ``apply_from``

    def __init__(self, client_options: dict[str, Any], fetch_wait_ms: int | None = None) -> None:
        self.client_options = client_options
        self.fetch_wait_ms = fetch_wait_ms  # None: aiokafka's 500 ms
        self.ready = False

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        raise NotImplementedError

    def apply_from(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        self.apply(key, value)

    def apply_message(self, tp: TopicPartition, message: Any) -> None:
        """One fetched record; a feed that needs its partition, offset or headers overrides this."""
        self.apply_from(tp.topic, message.key, message.value)

    def _names(self) -> tuple[str, ...]:
        return self.topics or (self.topic,)

    def after_batch(self) -> None:
        """Called after each fetched batch (and before ``ready`` is checked)."""

    def on_ready(self) -> None:
        """Called once, when the feed has caught up."""

    async def run(self) -> None:
        """Follow the topic until cancelled; reconnects after a broker error."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError) as exc:
                log.warning("feed_retry", topic=",".join(self._names()), error=str(exc)[:200])
                await asyncio.sleep(5)

    async def _follow(self) -> None:
        waits = {} if self.fetch_wait_ms is None else {"fetch_max_wait_ms": self.fetch_wait_ms}
        consumer = AIOKafkaConsumer(
            **self.client_options, **waits, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        consumer = await earliest.start(consumer)
        try:
            tps: list[TopicPartition] = []
            for name in self._names():
                partitions: set[int] = set()
                while not partitions:
                    if name in await consumer.topics():
                        # topics() reads fresh metadata but leaves the consumer's own (refreshed every few minutes):
                        # a topic created after the consumer started is found only once that is refreshed too
                        await consumer._client.force_metadata_update()
                    partitions = consumer.partitions_for_topic(name) or set()
                    if not partitions:
                        await asyncio.sleep(2)
                tps.extend(TopicPartition(name, p) for p in sorted(partitions))
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for tp, messages in batch.items():
                    for message in messages:
                        self.apply_message(tp, message)
                self.after_batch()
                if not self.ready and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                    self.ready = True
                    self.on_ready()
        finally:
            await consumer.stop()


class HistoryFeed(TopicFeed):
    """Reads ``cx.metrics.history`` whole into a :class:`HistoryIndex` and keeps following it."""

    topic = HISTORY_TOPIC

    def __init__(self, client_options: dict[str, Any], codec: AvroCodec) -> None:
        super().__init__(client_options)
        self.codec = codec
        self.index = HistoryIndex()
        self.undecodable = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            self.undecodable += 1
            return
        try:
            entry = decode_entry(self.codec, value)
        except (DecodeError, ValueError, KeyError) as exc:
            self.undecodable += 1
            log.warning("history_record_undecodable", error=str(exc)[:200])
            return
        self.index.apply(key.decode(), entry)

    def after_batch(self) -> None:
        HISTORY_FACTS.set(self.index.count())

    def on_ready(self) -> None:
        log.info("history_loaded", facts=self.index.count())
