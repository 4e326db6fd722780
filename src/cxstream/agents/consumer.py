"""A record a stream skipped is never committed as handled.

Faust's stream skips a record fetched before the latest rebalance (an older generation) or while flow control
is suspended (a rebalance or a table recovery in progress), and then acknowledges it so that lag does not
grow. The acknowledgement puts its offset among the handled ones, so the next commit can pass records no
agent handled: the partition is read again from the committed offset after the rebalance, but if it moves to
another worker (or this one stops) before that, the other worker starts after them and they are lost.
Measured: a worker started on a backlog never handled offsets 30-33 of a raw partition.

:class:`SkipAwareConsumer` acknowledges such a record (Faust's rebalance waits for every taken record) but
does not count it as handled: it was never tracked by a stream, so its offset stays uncommitted and it is
read again. ``cxstream_records_skipped_total{topic}`` counts them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from faust.transport.drivers import aiokafka as driver
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from cxstream.kafka import earliest
from cxstream.observability.metrics import RECORDS_SKIPPED


class EarliestAwareConsumerThread(driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, with "earliest" offsets that hold on the embedded broker: a new group and every
    table's changelog recovery start at the partition's first record (see :mod:`cxstream.kafka.earliest`)."""

    async def on_start(self) -> None:
        await super().on_start()
        await earliest.correct(self._ensure_consumer())


class SkipAwareConsumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return EarliestAwareConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def ack(self, message: Any) -> bool:
        if message.tracked or not self.app.topics.acks_enabled_for(message.topic):
            return bool(super().ack(message))
        with ack_lock:  # skipped by a stream before it tracked it: done with, not handled
            if message.acked:
                return False
            message.acked = True
            self._unacked_messages.discard(message)
            notify(self._waiting_for_ack)
        RECORDS_SKIPPED.labels(topic=message.topic).inc()
        return False


class SkipAwareTransport(driver.Transport):
    Consumer: ClassVar[Any] = SkipAwareConsumer
