"""A record a stream skipped is never committed as handled.

Faust's stream skips a record fetched before the latest rebalance (an older generation) or while flow control
is suspended (a rebalance or a table recovery in progress), and then acknowledges it so that lag does not
grow. The acknowledgement puts its offset among the handled ones, so the next commit can pass records no
agent handled: the partition is read again from the committed offset after the rebalance, but if it moves to
another worker (or this one stops) before that, the other worker starts after them and they are lost.
Measured: a worker started on a backlog never handled offsets 30-33 of a raw partition.

:class:`SkipAwareConsumer` acknowledges such a record (Faust's rebalance waits for every taken record) but
does not count it as handled: it was never tracked by a stream, so its offset stays uncommitted and it is
read again. ``cxstream_records_skipped_total{topic}`` counts them. Faust's commit then still passed a single
unhandled offset at the head of a partition (:func:`head_is_handled`), and counted a jump between two records
it read as offsets that do not exist (records fetched before a rebalance and dropped): commits wait until such
offsets are handled (``cxstream_commits_held_total{topic}`` counts the waits), and a partition whose head stays
unhandled is read again from it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any, ClassVar

from faust.transport.drivers import aiokafka as driver
from faust.transport.producer import ProducerBuffer
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

from cxstream.agents.delivery import EagerDelivery
from cxstream.agents.outbox import MAX_WAITING, Outbox
from cxstream.kafka import earliest
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import COMMITS_HELD, RECORDS_SKIPPED, REREADS, SEEKS_TO_START

log = get_logger(__name__)
#: How long a partition's commits may wait for its head offset before the partition is read again from there.
REREAD_AFTER_S = 15.0
DRAIN_POLL_S = 0.005


class EarliestAwareConsumerThread(driver.AIOKafkaConsumerThread):
    """Faust's consumer thread, with "earliest" offsets that hold on the embedded broker: a new group and every
    table's changelog recovery start at the partition's first record (see :mod:`cxstream.kafka.earliest`).

    And a seek "to the committed offset" that also moves a partition nobody has committed yet back to its
    start. Faust seeks every assigned partition to its committed offset after a rebalance, to read again what
    it fetched and dropped meanwhile; aiokafka's ``seek_to_committed`` leaves a partition without a commit
    where its fetcher stood, so the dropped records were never read. Measured: a raw partition's first 180
    records skipped, the worker's position at the partition's end with nothing read."""

    async def on_start(self) -> None:
        await super().on_start()
        await earliest.correct(self._ensure_consumer())

    def _create_worker_consumer(self, transport: Any) -> Any:
        """Faust's worker consumer with the fetch wait of ``CXSTREAM_CONSUMER_FETCH_WAIT`` instead of the 1.5 s
        Faust fixes (set before the consumer starts: aiokafka hands it to its fetcher then)."""
        consumer = super()._create_worker_consumer(transport)
        wait_ms = getattr(transport, "fetch_wait_ms", None)
        if wait_ms is not None:
            consumer._fetch_max_wait_ms = int(wait_ms)
        return consumer

    async def seek_to_committed(self) -> Any:
        return await self.call_thread(self._seek_to_committed_or_start)

    async def _seek_to_committed_or_start(self) -> Any:
        starts = getattr(self.consumer, "starts", None)
        return await seek_to_committed_or_start(self._ensure_consumer(), starts)


async def seek_to_committed_or_start(client: Any, starts: dict[Any, int] | None = None) -> Any:
    """``client.seek_to_committed()``, then every input partition without a commit back to its first record
    (what the group's "earliest" reset means). Changelog partitions are left to the table recovery, which
    places them itself. ``starts`` learns where each input partition's reading starts (its committed offset,
    or its first offset when nobody committed it): what a commit may not pass unhandled."""
    committed = await client.seek_to_committed()
    inputs = {tp: offset for tp, offset in committed.items() if not tp.topic.endswith("-changelog")}
    never = [tp for tp, offset in inputs.items() if not offset]
    first = await client.beginning_offsets(never) if never else {}
    if never:
        await client.seek_to_beginning(*never)
        SEEKS_TO_START.inc(len(never))
    if starts is not None:
        for tp, offset in inputs.items():
            start = offset if offset else first.get(tp, 0)
            starts[TP(tp.topic, tp.partition)] = int(start)
    return committed


def head_is_handled(committed: int | None, lowest_acked: int, gaps: Iterable[tuple[int, int]], lenient: bool) -> bool:
    """Whether a commit may start: every offset from the committed one (the next to read) up to the lowest
    handled one was handled or is known not to exist (``gaps``: [begin, end) ranges of missing offsets).

    Faust's own check lets exactly one offset through: with 31 committed and 32 the lowest handled, it commits
    past 31, which no agent handled (a record skipped during a rebalance, or dropped when flow control
    stopped its delivery). Measured: a rebalance storm lost 1 raw record in 1 of 25 runs that way.
    ``lenient`` (compacted topics, where offsets can be missing without Faust having seen a gap) keeps Faust's
    check; an unknown committed offset (no commit yet) cannot be checked."""
    if committed is None or committed < 0 or lowest_acked <= committed:
        return True
    missing = set(range(committed, lowest_acked))
    for begin, end in gaps:
        missing.difference_update(range(max(begin, committed), min(end, lowest_acked)))
    return not missing or (lenient and len(missing) <= 1)


class SkipAwareConsumer(EagerDelivery, driver.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held_since: dict[Any, float] = {}  # partition -> when its commits started waiting for its head
        # where reading each input partition started after the last rebalance (its committed offset, or its first
        # offset when nobody had committed it): Faust forgets a committed offset of 0, or one it failed to read,
        # and then lets a commit pass records no agent handled
        self.starts: dict[Any, int] = {}

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return EarliestAwareConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _new_offset(self, tp: Any) -> int | None:
        acked = self._acked[tp]
        lenient = tp.topic in getattr(self.transport, "compacted", ())
        if not lenient:
            # Offsets of a topic that is not compacted have no holes (no transactions are used): a jump Faust saw
            # between two records it read is records it never delivered (fetched before a rebalance and dropped
            # with the flow stopped, the seek back having failed), not offsets that do not exist. Faust counts
            # such a "gap" as handled and commits past it: a storm run lost 104 events of one cx.events partition
            # so. Here they stay unhandled, and the partition is read again from them.
            self._gap.pop(tp, None)
        if acked:
            gaps = [(i.begin, i.end) for i in self._gap[tp]] if lenient else []
            committed = self._committed_offset[tp]
            if committed is None:
                committed = self.starts.get(tp)
            if committed is not None and not head_is_handled(committed, min(acked), gaps, lenient):
                self._hold(tp, committed, min(acked))
                return None  # read again after the next seek, or handled late: then the commit moves on
        self._held_since.pop(tp, None)
        new: int | None = super()._new_offset(tp)
        return new

    def _hold(self, tp: Any, committed: int, lowest: int) -> None:
        COMMITS_HELD.labels(topic=tp.topic).inc()
        if tp not in self._held_since:
            log.info("commit_held", topic=tp.topic, partition=tp.partition, committed=committed, lowest_handled=lowest)
        self._reread_if_stuck(tp, committed)

    def _reread_if_stuck(self, tp: Any, committed: int) -> None:
        """A head offset that stays unhandled (its record dropped and not fetched again, since the stream reads
        on from where it was) would hold the partition's commits until the next rebalance: after
        ``REREAD_AFTER_S`` seek the partition back to its committed offset, so the record is read again (the
        records after it too: every agent drops what it has handled already)."""
        now = time.monotonic()
        since = self._held_since.setdefault(tp, now)
        if now - since < REREAD_AFTER_S:
            return
        self._held_since[tp] = now
        log.warning("commit_held_reread", topic=tp.topic, partition=tp.partition, offset=committed)
        REREADS.labels(topic=tp.topic).inc()
        self.add_future(self._reread(tp, committed))

    async def _reread(self, tp: Any, offset: int) -> None:
        try:
            await self.seek(tp, offset)
        except Exception as exc:  # the partition moved away meanwhile: its next owner reads it from there
            log.warning("commit_held_reread_failed", topic=tp.topic, partition=tp.partition, error=str(exc)[:200])

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


class DrainingBuffer(ProducerBuffer):
    """Faust's producer buffer (sends to topics wait in it), knowing when it has handed everything over."""

    outbox: Outbox | None = None  # the producer's table writes, for the streams' back-pressure

    def __post_init__(self) -> None:
        super().__post_init__()
        self.in_flight = 0

    async def _send_pending(self, fut: Any) -> None:
        self.in_flight += 1  # before the first await: the item left the queue in this same step
        try:
            await super()._send_pending(fut)
        finally:
            self.in_flight -= 1

    async def wait_until_ebb(self) -> None:
        """Faust's wait (its own buffer), and a batch of the table writes handed over when too many wait."""
        await super().wait_until_ebb()
        writes = self.outbox
        if writes is not None and writes.size > MAX_WAITING:
            await writes.hand_over()

    async def drain(self) -> None:
        """Wait until every buffered message is with the Kafka producer."""
        while self.size or self.in_flight:
            if self.state != "running":
                raise RuntimeError(f"{self.size + self.in_flight} changelog writes left in a stopped producer buffer")
            await asyncio.sleep(DRAIN_POLL_S)


class DrainingProducer(driver.Producer):
    """Faust's producer, whose flush waits for the whole buffer and for every table write
    (:class:`~cxstream.agents.outbox.Outbox`, which tables write through).

    Faust's flush gives up waiting for its buffer after 0.1 s without a send (``flush_atmost``), and the consumer
    commits right after it: table writes still in the buffer (up to its hundred messages, more when it is full)
    could be lost with the partition while the offsets of the events that made them were committed. A storm run
    lost 97 consecutive events of one ``cx.events`` partition that way (never in the metrics' changelogs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer = DrainingBuffer(loop=self.loop, beacon=self.beacon)
        self.buffer.app = self.app
        self.outbox = self.buffer.outbox = Outbox(self)

    async def flush(self) -> None:
        await self.outbox.drain()
        buffer = self.buffer
        if isinstance(buffer, DrainingBuffer):
            await buffer.drain()
        await super().flush()


class SkipAwareTransport(driver.Transport):
    Consumer: ClassVar[Any] = SkipAwareConsumer
    Producer: ClassVar[Any] = DrainingProducer
    compacted: frozenset[str] = frozenset()  # compacted input topics: offsets may be missing there
    fetch_wait_ms: int | None = None  # the consumer's fetch wait (None: Faust's)
