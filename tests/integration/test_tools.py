"""Reading a topic to its end: the base of dlq inspect/replay and of the accounting tests."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

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
