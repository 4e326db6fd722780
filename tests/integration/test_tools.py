"""Reading a topic to its end: the base of dlq inspect/replay and of the accounting tests."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cxstream.kafka import earliest
from cxstream.kafka.tools import read_to_end

pytestmark = pytest.mark.integration


async def _produce_in_batches(bootstrap: str, topic: str, producers: int, per_producer: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await admin.close()
    clients = [AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20) for _ in range(producers)]
    for client in clients:
        await client.start()
    try:
        futures = [
            await client.send(topic, f"{n}-{i}".encode(), key=str(i).encode())
            for n, client in enumerate(clients)
            for i in range(per_producer)
        ]
        return len({(m.partition, m.offset) for m in await asyncio.gather(*futures)})
    finally:
        for client in clients:
            await client.stop()


async def _read(bootstrap: str, topic: str) -> list[bytes]:
    return [m.value async for m in read_to_end({"bootstrap_servers": bootstrap}, topic)]


def test_reads_every_record_of_multi_record_batches(bootstrap: str) -> None:
    """Batched produce puts many records in one batch; the reader must not stop at the batch's first record
    (the embedded broker's ListOffsets answers with the last batch's base offset + 1)."""
    topic = f"batches-{uuid.uuid4().hex[:8]}"
    acked = asyncio.run(_produce_in_batches(bootstrap, topic, producers=2, per_producer=600))
    values = asyncio.run(_read(bootstrap, topic))
    assert acked == 1200
    assert len(values) == len(set(values)) == acked


def test_empty_and_missing_topics_read_as_nothing(bootstrap: str) -> None:
    topic = f"empty-{uuid.uuid4().hex[:8]}"
    asyncio.run(_produce_in_batches(bootstrap, topic, producers=1, per_producer=0))
    assert asyncio.run(_read(bootstrap, topic)) == []
    assert asyncio.run(_read(bootstrap, f"missing-{uuid.uuid4().hex[:8]}")) == []


async def _group_read(bootstrap: str, topic: str, expected: int) -> tuple[bool, dict[int, int], int]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"g-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest"
    )
    corrected = await earliest.correct(await _started(consumer))
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        beginnings = {tp.partition: offset for tp, offset in (await consumer.beginning_offsets(tps)).items()}
        values: set[bytes] = set()
        while len(values) < expected:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 60)
            values.update(m.value for messages in batch.values() for m in messages if m.value is not None)
        return corrected, beginnings, len(values)
    finally:
        await consumer.stop()


async def _started(consumer: AIOKafkaConsumer) -> AIOKafkaConsumer:
    await consumer.start()
    return consumer


def test_a_new_group_starts_at_the_first_record_of_racing_producers(bootstrap: str) -> None:
    """The embedded broker's "earliest" is the batch it stored first in time, which is not offset 0 when two
    producers' first batches race; corrected, a new group reads every record from offset 0."""
    topic = f"racing-{uuid.uuid4().hex[:8]}"
    acked = asyncio.run(_produce_in_batches(bootstrap, topic, producers=2, per_producer=600))
    corrected, beginnings, read = asyncio.run(asyncio.wait_for(_group_read(bootstrap, topic, acked), 120))
    if corrected:  # the embedded broker; against Kafka the broker's own answer stands
        assert beginnings == {0: 0, 1: 0, 2: 0}
    assert read == acked == 1200
