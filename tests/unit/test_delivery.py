"""Handing a fetched record to the streams (:mod:`cxstream.agents.delivery`): a delivery that does not wait runs in
the consumer's own task; one that waits goes on as a task, and the flow's suspension (a rebalance) cancels it and
lets it clean up, as Faust's ``wait_first`` does. A real ``mode`` service stands in for the consumer (the loop
itself runs under every integration test on the embedded broker)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mode import Service

from cxstream.agents.delivery import deliver


class Consumer(Service):
    """What :func:`deliver` uses of Faust's consumer: ``wait_first`` (mode's) and the flow's suspension flag."""

    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()


def test_a_delivery_that_does_not_wait_runs_in_the_callers_task() -> None:
    async def scenario() -> tuple[list[str], bool]:
        consumer, seen = Consumer(), []
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=10)

        async def on_message(value: str) -> None:
            seen.append(value)
            await queue.put(value)  # room: returns without suspending
            seen.append("same task" if asyncio.current_task() is caller else "another task")

        caller = asyncio.current_task()
        await deliver(consumer, on_message("a"))
        return seen, queue.qsize() == 1

    seen, queued = asyncio.run(scenario())
    assert seen == ["a", "same task"]
    assert queued


def test_a_delivery_that_waits_for_room_finishes_once_there_is_room() -> None:
    async def scenario() -> list[Any]:
        consumer = Consumer()
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        queue.put_nowait("first")

        async def on_message(value: str) -> None:
            await asyncio.sleep(0)  # a bare yield first
            await queue.put(value)  # full: waits until the stream takes "first"

        async def stream() -> None:
            await asyncio.sleep(0.05)
            queue.get_nowait()

        taker = asyncio.ensure_future(stream())
        await deliver(consumer, on_message("second"))
        await taker
        return [queue.get_nowait(), queue.qsize()]

    assert asyncio.run(scenario()) == ["second", 0]


def test_the_flows_suspension_cancels_a_waiting_delivery_and_lets_it_clean_up() -> None:
    async def scenario() -> tuple[list[str], int, int]:
        consumer, events = Consumer(), []
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        queue.put_nowait("first")

        async def on_message(value: str) -> None:
            try:
                await queue.put(value)
                events.append("delivered")
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
            finally:
                events.append("cleaned up")

        async def rebalance() -> None:
            await asyncio.sleep(0.05)
            consumer.suspend_flow.set()

        suspender = asyncio.ensure_future(rebalance())
        await deliver(consumer, on_message("second"))
        await suspender
        await asyncio.sleep(0.01)  # the cancelled delivery's task finishes its clean-up
        return events, queue.qsize(), len(queue._putters)  # type: ignore[attr-defined]

    events, size, putters = asyncio.run(scenario())
    assert events == ["cancelled", "cleaned up"]
    assert size == 1  # only "first": the cancelled record is read again from the committed offset
    assert putters == 0  # the queue forgot the cancelled put


def test_a_delivery_that_fails_raises_in_the_caller() -> None:
    async def scenario() -> None:
        async def on_message() -> None:
            raise ValueError("undecodable key")

        await deliver(Consumer(), on_message())

    with pytest.raises(ValueError, match="undecodable key"):
        asyncio.run(scenario())


def test_a_delivery_that_fails_after_waiting_raises_in_the_caller() -> None:
    async def scenario() -> None:
        async def on_message() -> None:
            await asyncio.sleep(0.01)
            raise ValueError("channel closed")

        await deliver(Consumer(), on_message())

    with pytest.raises(ValueError, match="channel closed"):
        asyncio.run(scenario())
