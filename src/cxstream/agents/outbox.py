"""What a worker writes to Kafka past Faust's per-message send machinery (a future message, its buffer, the
channel's publish path: measured on this machine, about 150 µs of CPU per table write above a plain aiokafka
send, and a raw record makes about 2.6 table writes and 1.3 topic records).

* Table changelog writes are serialized at once (the same bytes Faust's changelog topic would write) and wait
  in the :class:`Outbox`; every ``LINGER_S`` the waiting writes go to the aiokafka producer, each changelog
  partition's in the order they were last written, packed into as few record batches as its batch size allows
  (aiokafka's batch interface: one delivery future and one acknowledgement per batch, not per record). A key
  written again before its batch left keeps only its newest value (and its place moves to the end): the
  changelog is compacted, and a recovery that applied the older value would overwrite it with the newer one next
  anyway. Each cell, de-duplication entry and case is idempotent by itself (see
  :mod:`cxstream.agents.metric_tables`), so a crash that leaves some keys' newer values and not others' is a
  state a replay from the committed offsets repairs, as it repairs a crash between two Faust sends.
* Records for the pipeline's own topics (:func:`send`: canonical events, contacts, invites) go to the producer at
  once, serialized by the Faust topic they are for, and partitioned as Faust would (by key).

Nothing is committed before its records are with Kafka: the consumer flushes the producer before each commit,
and :class:`~cxstream.agents.consumer.DrainingProducer` hands over every waiting write and waits for the
acknowledgement of every record sent so far first. A record Kafka refused fails that flush and every later
one (no commit passes it: the worker stops and its partitions are read again from the committed offsets).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from faust.types import TP

from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import CHANGELOG_COALESCED, MESSAGES_OUT, SEND_ERRORS, child

log = get_logger(__name__)
#: How long a write waits for later writes of its key before its batch goes to the producer. Standby copies
#: and the threshold rules' replica see a write this much later; commits never wait for it (they flush).
LINGER_S = 0.05
#: Waiting writes above which the streams pause until a batch has gone (like Faust's producer buffer).
MAX_WAITING = 20_000

Key = tuple[str, int, bytes | None]  # changelog topic, partition, key bytes
Write = tuple[bytes | None, bytes | None, list[tuple[str, bytes]], Any]  # key, value (None: deletion), headers, table


async def send(topic: Any, key: Any, value: Any, headers: list[tuple[str, bytes]] | None = None) -> None:
    """Send ``value`` under ``key`` to a Faust ``topic`` through the producer's :class:`Outbox` (Faust's own send
    when the app's transport has none)."""
    outbox = getattr(topic.app.producer, "outbox", None)
    if outbox is None:
        await topic.send(key=key, value=value, headers=headers)
        return
    await outbox.send(topic, key, value, headers)


class Outbox:
    """The table writes waiting to be handed to the producer, one per key, and the acknowledgements of everything
    sent through it (see the module docstring)."""

    def __init__(self, producer: Any) -> None:
        self._producer = producer  # faust's: its ``send`` gives aiokafka's delivery future; batches go to its aiokafka
        self._waiting: dict[Key, tuple[bytes | None, list[tuple[str, bytes]], Any]] = {}
        self._lock = asyncio.Lock()  # one batch at a time: each partition's writes stay in order
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Future[None] | None = None
        self._unacknowledged: set[asyncio.Future[Any]] = set()
        self._failure: BaseException | None = None

    @property
    def size(self) -> int:
        return len(self._waiting)

    def put(self, table: Any, topic: str, partition: int, key: bytes | None, value: bytes | None,
            headers: list[tuple[str, bytes]]) -> None:  # fmt: skip
        """Queue one serialized write (``value`` None: a deletion) of ``table`` to ``partition`` of ``topic``."""
        slot = (topic, partition, key)
        if self._waiting.pop(slot, None) is not None:
            child(CHANGELOG_COALESCED, topic).inc()
        self._waiting[slot] = (value, headers, table)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(LINGER_S, self._start)

    def _start(self) -> None:
        self._timer = None
        if self._task is not None and not self._task.done():  # the batch before is still leaving: look again later
            self._timer = asyncio.get_running_loop().call_later(LINGER_S, self._start)
            return
        self._task = asyncio.ensure_future(self._send_in_background())

    async def _send_in_background(self) -> None:
        try:
            await self.hand_over()
        except Exception as exc:  # kept for the next flush: a commit must not pass writes that never left
            self._failure = exc
            log.error("outbox_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    async def hand_over(self) -> None:
        """Give every waiting write to the producer (not waiting for Kafka's acknowledgement)."""
        async with self._lock:
            waiting, self._waiting = self._waiting, {}
            partitions: dict[tuple[str, int], list[Write]] = {}
            for (topic, partition, key), (value, headers, table) in waiting.items():
                partitions.setdefault((topic, partition), []).append((key, value, headers, table))
            for (topic, partition), writes in partitions.items():
                await self._send_batches(topic, partition, writes)

    async def _send_batches(self, topic: str, partition: int, writes: list[Write]) -> None:
        """One changelog partition's writes, in order, in record batches of the producer's batch size (a write
        bigger than that fills a batch of its own: aiokafka takes any record into an empty batch)."""
        kafka = self._producer._ensure_producer()
        batch, table = kafka.create_batch(), writes[0][3]  # a changelog partition is one table's
        for key, value, headers, _ in writes:
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is not None:
                continue
            await self._submit(kafka, batch, topic, partition, table)
            batch = kafka.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                raise RuntimeError(f"an empty record batch refused a write to {topic} [{partition}]")
        if batch.record_count():
            await self._submit(kafka, batch, topic, partition, table)

    async def _submit(self, kafka: Any, batch: Any, topic: str, partition: int, table: Any) -> None:
        batch.close()  # nothing else joins it: the producer's own sends to this partition start a batch of their own
        records = batch.record_count()
        delivery = await kafka.send_batch(batch, topic, partition=partition)
        self._unacknowledged.add(delivery)
        delivery.add_done_callback(partial(self._acknowledged, table, topic, records))

    async def send(self, topic: Any, key: Any, value: Any, headers: list[tuple[str, bytes]] | None = None) -> None:
        """One record for a Faust ``topic``, serialized by it and partitioned by its key, now."""
        key_bytes = topic.prepare_key(key, None)[0]
        value_bytes = topic.prepare_value(value, None)[0]
        await self._send(topic.get_topic_name(), key_bytes, value_bytes, None, headers, None)

    async def _send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None,
                    headers: list[tuple[str, bytes]] | None, table: Any) -> None:  # fmt: skip
        """Hand one record to the producer and track its acknowledgement (``table``: whose changelog it is)."""
        delivery = await self._producer.send(topic, key, value, partition=partition, timestamp=None, headers=headers)
        self._unacknowledged.add(delivery)
        delivery.add_done_callback(partial(self._acknowledged, table, topic, 1))

    def _acknowledged(self, table: Any, topic: str, records: int, delivery: asyncio.Future[Any]) -> None:
        """``delivery`` of ``records`` records (a record batch, or one record) to ``topic`` is settled."""
        self._unacknowledged.discard(delivery)
        if delivery.cancelled():
            self._failure = self._failure or asyncio.CancelledError(f"a record for {topic} was cancelled")
            return
        exc = delivery.exception()
        if exc is not None:
            SEND_ERRORS.labels(topic=topic).inc()
            self._failure = self._failure or exc
            return
        child(MESSAGES_OUT, topic).inc(records)
        metadata = delivery.result()  # of the batch's first record
        if table is not None and metadata is not None:  # where a persistent store resumes its recovery
            table.data.set_persisted_offset(TP(topic, metadata.partition), metadata.offset + records - 1)

    async def drain(self) -> None:
        """Hand over every waiting write and wait until Kafka acknowledged each one handed over so far; raises
        the first failure (then no commit may follow)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.hand_over()
        if self._unacknowledged:
            await asyncio.gather(*list(self._unacknowledged), return_exceptions=True)
        failure = self._failure  # it stays: no later commit may pass the lost write either
        if failure is not None:
            raise RuntimeError(
                f"a record sent through the outbox failed: {type(failure).__name__}: {failure}"
            ) from failure
