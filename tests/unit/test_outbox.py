"""The outbox's bookkeeping: which table writes leave (the newest per key, in the order last written), that a
flush waits for every acknowledgement, and that a refused record fails every later flush. A recording producer
stands in for aiokafka's here; that the records reach Kafka and survive a SIGKILL is what the metrics,
breaches and cases integration tests check on the embedded broker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from faust.types import TP

from cxstream.agents import outbox as outbox_module
from cxstream.agents.outbox import Outbox
from cxstream.observability.metrics import CHANGELOG_COALESCED, MESSAGES_OUT


class Metadata(NamedTuple):
    partition: int
    offset: int


@dataclass
class RecordingProducer:
    """Keeps what it was given, one record (Faust's ``send``) or a record batch (aiokafka's ``send_batch``, its
    records read back with aiokafka's own reader) at a time; acknowledges each with the next offsets of its
    partition, or fails it."""

    sent: list[tuple[str, int | None, bytes | None, bytes | None]] = field(default_factory=list)
    fail: bool = False
    pause_s: float = 0.0  # how long each send takes to be accepted (a producer whose buffer is full)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    batch_size: int = 16384  # bytes (aiokafka's default)
    requests: list[tuple[str, int, int]] = field(default_factory=list)  # (topic, partition, records) per send

    def _ensure_producer(self) -> RecordingProducer:  # Faust's name for its aiokafka producer
        return self

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None,
                   timestamp: float | None, headers: Any) -> asyncio.Future[Metadata]:  # fmt: skip
        return await self._accept(topic, partition or 0, [(key, value)])

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> asyncio.Future[Metadata]:
        records = MemoryRecords(bytes(batch._build())).next_batch()
        assert records is not None
        return await self._accept(topic, partition, [(r.key, r.value) for r in records])

    async def _accept(self, topic: str, partition: int, records: list[tuple[bytes | None, bytes | None]]
                      ) -> asyncio.Future[Metadata]:  # fmt: skip
        if self.pause_s:
            await asyncio.sleep(self.pause_s)
        self.sent += [(topic, partition, key, value) for key, value in records]
        self.requests.append((topic, partition, len(records)))
        delivery: asyncio.Future[Metadata] = asyncio.get_running_loop().create_future()
        if self.fail:
            delivery.set_exception(OSError("broker refused the record"))
        else:
            offset = self.offsets.get((topic, partition), 0)
            self.offsets[(topic, partition)] = offset + len(records)
            delivery.set_result(Metadata(partition, offset))  # a batch's first offset, as aiokafka gives it
        return delivery


@dataclass
class Store:
    persisted: dict[TP, int] = field(default_factory=dict)

    def set_persisted_offset(self, tp: TP, offset: int) -> None:
        self.persisted[tp] = offset


@dataclass
class Table:
    data: Store = field(default_factory=Store)


def test_only_the_newest_value_of_a_key_leaves_in_the_order_last_written() -> None:
    async def scenario() -> tuple[RecordingProducer, Table]:
        producer, table = RecordingProducer(), Table()
        box = Outbox(producer)
        box.put(table, "t-changelog", 1, b"a", b"1", [])
        box.put(table, "t-changelog", 1, b"b", b"2", [])
        box.put(table, "t-changelog", 1, b"a", b"3", [])  # replaces a=1 and moves behind b
        box.put(table, "t-changelog", 2, b"a", b"4", [])  # another partition: another slot
        box.put(table, "t-changelog", 1, b"b", None, [])  # a deletion replaces b=2
        assert box.size == 3
        await box.drain()
        assert box.size == 0
        return producer, table

    before = CHANGELOG_COALESCED.labels(topic="t-changelog")._value.get()
    producer, table = asyncio.run(scenario())
    # each partition's writes in the order last written, one record batch per partition
    assert producer.sent == [("t-changelog", 1, b"a", b"3"), ("t-changelog", 1, b"b", None),
                             ("t-changelog", 2, b"a", b"4")]  # fmt: skip
    assert producer.requests == [("t-changelog", 1, 2), ("t-changelog", 2, 1)]
    assert CHANGELOG_COALESCED.labels(topic="t-changelog")._value.get() - before == 2
    # a persistent store learns the offset of its partition's last acknowledged write
    assert table.data.persisted == {TP("t-changelog", 1): 1, TP("t-changelog", 2): 0}


def test_a_partitions_writes_fill_batches_in_order_and_a_write_bigger_than_a_batch_fills_one_alone() -> None:
    async def scenario() -> tuple[RecordingProducer, Table]:
        producer, table = RecordingProducer(batch_size=400), Table()
        box = Outbox(producer)
        for i in range(10):
            box.put(table, "big-changelog", 0, f"k{i}".encode(), b"x" * 60, [("cxstream-epoch", b"7")])
        box.put(table, "big-changelog", 0, b"huge", b"y" * 1000, [])
        box.put(table, "big-changelog", 0, b"after", b"z", [])
        await box.drain()
        return producer, table

    before = MESSAGES_OUT.labels(topic="big-changelog")._value.get()
    producer, table = asyncio.run(scenario())
    keys = [key for _, _, key, _ in producer.sent]
    assert keys == [f"k{i}".encode() for i in range(10)] + [b"huge", b"after"]
    assert producer.sent[10][3] == b"y" * 1000
    sizes = [n for _, _, n in producer.requests]
    assert sizes == [3, 3, 3, 1, 1, 1]  # three small writes fit 400 bytes; the big one fills a batch alone
    assert MESSAGES_OUT.labels(topic="big-changelog")._value.get() - before == 12
    assert table.data.persisted == {TP("big-changelog", 0): 11}


def test_writes_leave_by_themselves_after_the_linger() -> None:
    async def scenario() -> list[Any]:
        producer = RecordingProducer()
        box = Outbox(producer)
        box.put(Table(), "t-changelog", 0, b"k", b"v", [])
        assert producer.sent == []
        await asyncio.sleep(outbox_module.LINGER_S * 4)
        return producer.sent

    assert asyncio.run(scenario()) == [("t-changelog", 0, b"k", b"v")]


def test_writes_made_while_a_slow_batch_leaves_follow_it_without_a_flush() -> None:
    async def scenario() -> list[Any]:
        producer = RecordingProducer(pause_s=outbox_module.LINGER_S * 3)
        box = Outbox(producer)
        table = Table()
        box.put(table, "t-changelog", 0, b"a", b"1", [])
        await asyncio.sleep(outbox_module.LINGER_S * 1.5)  # the first batch is leaving (slowly)
        box.put(table, "t-changelog", 0, b"b", b"2", [])
        await asyncio.sleep(outbox_module.LINGER_S * 12)
        return producer.sent

    assert asyncio.run(scenario()) == [("t-changelog", 0, b"a", b"1"), ("t-changelog", 0, b"b", b"2")]


def test_a_refused_record_fails_this_flush_and_every_later_one() -> None:
    async def scenario() -> None:
        producer = RecordingProducer(fail=True)
        box = Outbox(producer)
        box.put(Table(), "t-changelog", 0, b"k", b"v", [])
        with pytest.raises(RuntimeError, match="a record sent through the outbox failed: OSError: broker refused"):
            await box.drain()
        producer.fail = False
        with pytest.raises(RuntimeError, match="broker refused"):  # no later commit may pass the lost write
            await box.drain()

    asyncio.run(scenario())
