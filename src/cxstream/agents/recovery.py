"""Table recovery that reads every changelog partition to its true end, and does not stop the worker when a
local copy is ahead of the changelog's listed end.

Faust reads a changelog partition up to the high watermark the broker lists (ListOffsets) and ends the
recovery at the first record at or past it. The embedded broker lists the base offset of the partition's last
record batch plus one: a recovery that started below that batch stopped after its first record, and the rest
of the batch (a producer's linger puts many table writes in one batch) was never applied. Measured: a fresh
worker recovering six changelog partitions of one batch each (135-176 records) applied one record of each;
every event whose cell writes sat in such a tail, and whose offset was already committed, went uncounted for
good (the few per cent a rebalance storm lost, the one event of a SIGKILL). :class:`CheckedRecovery` asks the
broker for every partition's end by fetching (the fetch answer carries the true high watermark) and reads to
it (``cxstream_recovery_highwater_total{outcome="extended"}``); on Apache Kafka the two ends agree.

Faust also compares, at every rebalance, the offset up to which it holds a changelog partition with the partition's
high watermark as the broker lists it (ListOffsets), and raises ``ConsistencyError`` (the worker stops) when
the copy is ahead. Two causes:

* the listed end is wrong: the embedded broker lists the base offset of the partition's last record batch
  plus one, below the end of that batch, while the copy (read from fetches, which return whole batches)
  holds the whole batch. The copy is right. A rebalance with a table kept warm (an active or standby copy
  read to the true end) then stopped both workers of a group;
* the changelog really is shorter (deleted and created again, an unclean leader election on Apache Kafka):
  the copy holds records the log no longer has. The copy is wrong.

:class:`CheckedRecovery` tells them apart before Faust's check, with the same fetched ends: when the copy is
within the fetched end the listed end is corrected; otherwise the table's local copy is discarded (every
value, every partition of that table on this worker) and recovery starts again, reading it from the changelog.
``cxstream_recovery_highwater_total{outcome}`` counts both.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.tables.recovery import RebalanceAgain, Recovery
from faust.types import TP

from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import RECOVERY_HIGHWATER

log = get_logger(__name__)
_FETCH_TIMEOUT_MS = 3000


async def fetched_ends(client_options: dict[str, Any], tps: list[TP]) -> dict[TP, int]:
    """The end offset (next offset to be written) of each partition, from a fetch answer's high watermark."""
    consumer = AIOKafkaConsumer(**client_options, enable_auto_commit=False, auto_offset_reset="latest")
    await consumer.start()
    ends: dict[TP, int] = {}
    try:
        wanted = {TopicPartition(tp.topic, tp.partition): tp for tp in tps}
        consumer.assign(list(wanted))
        listed = await consumer.end_offsets(list(wanted))
        for kafka_tp, offset in listed.items():
            consumer.seek(kafka_tp, max(0, offset - 1))  # within the last batch: the answer carries the watermark
        deadline = asyncio.get_running_loop().time() + _FETCH_TIMEOUT_MS / 1000
        while len(ends) < len(wanted) and asyncio.get_running_loop().time() < deadline:
            await consumer.getmany(timeout_ms=500)
            for kafka_tp, tp in wanted.items():
                highwater = consumer.highwater(kafka_tp)
                if highwater is not None:
                    ends[tp] = max(highwater, listed[kafka_tp])
    finally:
        await consumer.stop()
    return ends


def ahead(offsets: Counter[TP], highwaters: Counter[TP], tps: set[TP]) -> list[TP]:
    """The partitions whose local copy reaches beyond the listed last offset."""
    out = []
    for tp in sorted(tps):
        offset, highwater = offsets.get(tp), highwaters.get(tp)
        if offset is not None and highwater is not None and offset >= 0 and offset > highwater:
            out.append(tp)
    return out


class CheckedRecovery(Recovery):
    client_options: dict[str, Any] = {}

    async def _build_highwaters(self, consumer: Any, tps: set[TP], destination: Counter[TP], title: str) -> None:
        await super()._build_highwaters(consumer, tps, destination, title)
        offsets = self.active_offsets if title == "active" else self.standby_offsets
        await self._read_to_true_ends(tps, destination, offsets, title)
        discard = ahead(offsets, destination, tps)  # a copy beyond the true end holds what the log does not
        if not discard:
            return
        discarded = [table for table in {self.tp_to_table[tp] for tp in discard} if self._discard(table)]
        if not discarded:
            return  # Faust's own check stops the worker, with the fix logged above
        RECOVERY_HIGHWATER.labels(outcome="discarded").inc(len(discard))
        self.signal_recovery_start.set()  # start the recovery round again, from the changelogs' beginning
        raise RebalanceAgain()

    async def _read_to_true_ends(
        self, tps: set[TP], destination: Counter[TP], offsets: Counter[TP], title: str
    ) -> None:
        """Every listed end that stops inside the partition's last record batch becomes the fetched end (one
        fetch for all partitions): "corrected" when the local copy was already past the listed end, else
        "extended". A partition without a fetch answer in time keeps its listed end."""
        listed = sorted(tp for tp in tps if destination.get(tp) is not None)
        if not listed:
            return
        ends = await fetched_ends(self.client_options, listed)
        if len(ends) < len(listed):
            log.warning("changelog_end_unknown", kind=title, partitions=len(listed) - len(ends),
                        detail="no fetch answer in time: reading to the listed end")  # fmt: skip
        for tp, end in ends.items():
            if end - 1 > destination[tp]:
                held = offsets.get(tp)
                outcome = "corrected" if held is not None and held > destination[tp] else "extended"
                log.info(f"changelog_highwater_{outcome}", kind=title, topic=tp.topic, partition=tp.partition,
                         listed=destination[tp], fetched=end - 1, held=held)  # fmt: skip
                destination[tp] = end - 1
                RECOVERY_HIGHWATER.labels(outcome=outcome).inc()

    def _discard(self, table: Any) -> bool:
        store = table.data
        if not hasattr(store, "_key_partition"):
            # a persistent store keeps its own offsets on disk: leave the decision to Faust's check
            log.error("changelog_shorter_than_local_copy", table=table.name, store=type(store).__name__,
                      detail="delete the worker's data directory for this table and restart it")  # fmt: skip
            return False
        changelog = table.changelog_topic.get_topic_name()
        log.warning("table_copy_discarded", table=table.name,
                    detail="the local copy held records the changelog does not: reading it again")  # fmt: skip
        store.data.clear()
        store._key_partition.clear()
        for offsets in (self.active_offsets, self.standby_offsets):
            for tp in list(offsets):
                if tp.topic == changelog:
                    offsets[tp] = -1
        return True
