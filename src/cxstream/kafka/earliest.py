"""Where a partition really begins, on the embedded broker as on Kafka.

The embedded broker (Tansu 0.6, memory storage) answers ListOffsets "earliest" with the base offset of the
record batch it *stored first in time*, not the lowest offset. Two producers whose first batches to a partition
race (two workers writing ``cx.events``, two owners of a changelog partition during a handover) can have the
higher offset stored first; every reader that then starts from "earliest" (a new consumer group, Faust's table
recovery, ``dlq inspect``) begins above the lower batch and never reads it. Measured: two producers of 600
records each, read back from "earliest" on a loaded machine, 3 runs of 30 read 971-1,023 records of 1,200.

That broker never deletes a record (memory storage, no retention), so its log begins at offset 0.
:func:`start` starts an aiokafka consumer and, when the cluster is that broker (its Metadata answer names the
cluster ``tansu_cluster``), answers "earliest" with 0. Against Kafka nothing changes: one Metadata request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import OffsetResetStrategy
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

EMBEDDED_CLUSTER_ID = "tansu_cluster"  # the embedded broker's default --cluster-id

OffsetRequest = Callable[[int, dict[str, list[tuple[int, int]]]], Awaitable[dict[Any, tuple[int, int | None]]]]


async def cluster_id(consumer: AIOKafkaConsumer) -> str | None:
    """The cluster id a started consumer's cluster reports, or None when it does not answer."""
    client = consumer._client
    try:
        response = await client.send(client.get_random_node(), MetadataRequest([]))
    except KafkaError:
        return None
    value = getattr(response, "cluster_id", None)
    return str(value) if value is not None else None


def from_zero(request: OffsetRequest) -> OffsetRequest:
    """Wrap a fetcher's ListOffsets call so that every "earliest" it asks for is answered with offset 0."""

    async def ask(node_id: int, topic_data: dict[str, list[tuple[int, int]]]) -> dict[Any, tuple[int, int | None]]:
        answers = await request(node_id, topic_data)
        earliest = {
            (topic, partition)
            for topic, wanted in topic_data.items()
            for partition, timestamp in wanted
            if timestamp == OffsetResetStrategy.EARLIEST
        }
        return {tp: (0, None) if (tp.topic, tp.partition) in earliest else answer for tp, answer in answers.items()}

    return ask


async def correct(consumer: AIOKafkaConsumer) -> bool:
    """Make a started consumer's "earliest" true on the embedded broker; True when it had to."""
    if await cluster_id(consumer) != EMBEDDED_CLUSTER_ID:
        return False
    fetcher = consumer._fetcher
    fetcher._proc_offset_request = from_zero(fetcher._proc_offset_request)
    return True


async def start(consumer: AIOKafkaConsumer) -> AIOKafkaConsumer:
    """Start ``consumer`` with earliest offsets that hold on every supported broker."""
    await consumer.start()
    await correct(consumer)
    return consumer
