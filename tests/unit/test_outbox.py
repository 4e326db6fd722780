"""The outbox's bookkeeping: which table writes leave (the newest per key, in the order last written), that a
flush waits for every acknowledgement, and that a refused record fails every later flush. A recording producer
stands in for aiokafka's here; that the records reach Kafka and survive a SIGKILL is what the metrics,
breaches and cases integration tests check on the embedded broker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pytest
from faust.types import TP

from cxstream.agents import outbox as outbox_module
from cxstream.agents.outbox import Outbox
from cxstream.observability.metrics import CHANGELOG_COALESCED


class Metadata(NamedTuple):
    partition: int
    offset: int


@dataclass
class RecordingProducer:
    """Keeps what it was given; acknowledges each record with the next offset of its partition, or fails it."""

    sent: list[tuple[str, int | None, bytes | None, bytes | None]] = field(default_factory=list)
    fail: bool = False
    pause_s: float = 0.0  # how long each send takes to be accepted (a producer whose buffer is full)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    async def send(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None,
                   timestamp: float | None, headers: Any) -> asyncio.Future[Metadata]:  # fmt: skip
        if self.pause_s:
            await asyncio.sleep(self.pause_s)
        self.sent.append((topic, partition, key, value))
        delivery: asyncio.Future[Metadata] = asyncio.get_running_loop().create_future()
        if self.fail:
            delivery.set_exception(OSError("broker refused the record"))
        else:
            part = partition or 0
            offset = self.offsets.get((topic, part), 0)
            self.offsets[(topic, part)] = offset + 1
            delivery.set_result(Metadata(part, offset))
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
    assert producer.sent == [("t-changelog", 1, b"a", b"3"), ("t-changelog", 2, b"a", b"4"),
                             ("t-changelog", 1, b"b", None)]  # fmt: skip
    assert CHANGELOG_COALESCED.labels(topic="t-changelog")._value.get() - before == 2
    # a persistent store learns the offset of its partition's last acknowledged write
    assert table.data.persisted == {TP("t-changelog", 1): 1, TP("t-changelog", 2): 0}


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
