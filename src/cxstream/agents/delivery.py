"""Handing fetched records to the streams without a task per record.

Faust's consumer delivers each fetched record inside ``wait_first(on_message(record), suspend_flow.wait())``, so
that a rebalance (which suspends the flow) can cancel a delivery that waits. That is four tasks, an
``asyncio.wait`` and three cancellations per record, about as much CPU as the delivery itself, for every record
of every topic. A delivery waits only when the flow is suspended (a rebalance), the producer's buffer is full, or
a stream's buffer is full; otherwise it puts the record into each stream's queue and returns without ever
suspending.

:class:`EagerDelivery` runs each delivery in the consumer's own loop until it finishes or would wait. Only a
delivery that would wait becomes a task, raced against the flow's suspension exactly as Faust races it (the
suspension cancels it, and the record is read again from the committed offset). Everything else in the loop
(read offsets, the gaps Faust notes between offsets, commits every ``broker_commit_every`` acknowledgements,
yielding to the event loop every hundred records, how it stops) is Faust's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from mode import Service

#: Records delivered between two yields to the event loop (Faust's own figure): the streams run in between.
YIELD_EVERY = 100


async def deliver(consumer: Any, delivery: Coroutine[Any, Any, Any]) -> None:
    """Run ``delivery`` (the conductor's ``on_message`` for one record) here until it ends or would wait; a
    delivery that would wait goes on as a task that the flow's suspension cancels."""
    try:
        waiting_on = delivery.send(None)
    except StopIteration:
        return
    task = asyncio.ensure_future(_finish(delivery, waiting_on))
    await consumer.wait_first(task, consumer.suspend_flow.wait())


async def _finish(delivery: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
    """Drive a started ``delivery``, suspended on ``waiting_on``, to its end as a task would: resume it when what it
    waits on is done; when cancelled, cancel that and the delivery (its ``except`` and ``finally`` clauses run)."""
    while True:
        try:
            if waiting_on is None:  # a bare yield (``asyncio.sleep(0)``): run again on the next loop round
                await asyncio.sleep(0)
            elif asyncio.isfuture(waiting_on):
                waiting_on._asyncio_future_blocking = False
                await asyncio.wait((waiting_on,))
            else:
                delivery.close()
                raise RuntimeError(f"a delivery yielded {waiting_on!r}, not a future")
        except asyncio.CancelledError:
            if asyncio.isfuture(waiting_on):
                waiting_on.cancel()
            _cancel(delivery)
            raise
        try:
            waiting_on = delivery.send(None)
        except StopIteration:
            return


def _cancel(delivery: Coroutine[Any, Any, Any]) -> None:
    """Cancel a suspended ``delivery`` as a task cancels its coroutine (``CancelledError`` where it waits); one that
    goes on waiting after that is closed."""
    try:
        delivery.throw(asyncio.CancelledError())
    except (asyncio.CancelledError, StopIteration):
        return
    delivery.close()


class EagerDelivery:
    """Faust's ``Consumer._drain_messages`` with :func:`deliver` in place of a ``wait_first`` per record (mixed into
    the consumer class)."""

    async def _drain_messages(self, fetcher: Any) -> None:
        consumer = cast(Any, self)
        callback = consumer.callback
        read_offsets = consumer._read_offset
        acks_enabled_for = consumer.app.topics.acks_enabled_for
        commit_every = consumer._commit_every
        consumer_stopped = cast(Service, consumer)._stopped.is_set
        fetcher_stopped = cast(Service, fetcher)._stopped.is_set
        since_yield = 0
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                consumer.diag.set_flag(CONSUMER_FETCHING)
                records = consumer.getmany(timeout=1.0)
                await asyncio.sleep(0)  # getmany can return at once again and again
                if consumer.should_stop:
                    continue
                async for tp, message in records:
                    since_yield += 1
                    if since_yield > YIELD_EVERY:
                        await asyncio.sleep(0)
                        since_yield = 0
                    offset = message.offset
                    read = read_offsets[tp]
                    if read is not None and offset < read:
                        continue  # read already (a seek back): dropped, as Faust drops it
                    if read and offset - read > 1 and acks_enabled_for(message.topic):
                        await consumer._add_gap(tp, read + 1, offset)
                    if commit_every is not None and consumer._n_acked >= commit_every:
                        consumer._n_acked = 0
                        await consumer.commit()
                    await deliver(consumer, callback(message))
                    read_offsets[tp] = offset
                consumer.diag.unset_flag(CONSUMER_FETCHING)
        except consumer.consumer_stopped_errors:
            if consumer.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if consumer.transport.app.should_stop:
                return
            raise
        except Exception as exc:
            consumer.log.exception("Drain messages raised: %r", exc)  # Faust's own message for it
            raise
        finally:
            consumer.diag.unset_flag(CONSUMER_FETCHING)
