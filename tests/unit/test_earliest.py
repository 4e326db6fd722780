"""Earliest offsets answered from 0 on the embedded broker: the wrapper around aiokafka's ListOffsets call."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition
from aiokafka.consumer.fetcher import OffsetResetStrategy

from cxstream.kafka.earliest import from_zero


def test_only_earliest_answers_become_zero() -> None:
    asked: list[dict[str, list[tuple[int, int]]]] = []

    async def broker(node_id: int, topic_data: dict[str, list[tuple[int, int]]]) -> dict[Any, tuple[int, Any]]:
        asked.append(topic_data)
        return {TopicPartition(t, p): (229, 1700) for t, wanted in topic_data.items() for p, _ in wanted}

    request = {
        "a": [(0, OffsetResetStrategy.EARLIEST), (1, OffsetResetStrategy.LATEST)],
        "b": [(0, 1_700_000_000_000)],  # by timestamp
    }
    answers = asyncio.run(from_zero(broker)(7, request))
    assert asked == [request]  # the broker is still asked (errors and leadership stay its own)
    assert answers == {
        TopicPartition("a", 0): (0, None),
        TopicPartition("a", 1): (229, 1700),
        TopicPartition("b", 0): (229, 1700),
    }
