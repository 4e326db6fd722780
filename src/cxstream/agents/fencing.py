"""Writes from a fenced worker never win: every changelog record carries its writer's *epoch* for that
changelog partition, and recovery and standby copies apply a record only when its epoch is not older than
the newest one already seen in the partition.

Why: a worker paused past its session timeout (a stopped process, a frozen VM) loses its partitions to
another worker, but when it resumes it still processes what it had fetched before it learns that, and writes
table values computed from its stale copy. Without a fence the last record wins at the next recovery, so the
stale value replaces the fresh one for good.

How:

* When a worker becomes the active owner of a changelog partition (its recovery completed), it takes an
  epoch above every epoch it has read from that partition and not below its wall clock in milliseconds, and
  writes it to the partition as an owner marker (a record under :data:`MARKER_KEY` with the epoch as its
  header and its value, never applied to the table). The new owner read the partition to its end first, so its
  epoch is above the old owner's; the wall-clock floor keeps epochs increasing when a worker recovers only
  part of a partition (a persistent store starts from its saved offset).
* Every write (a value or a deletion) carries the writer's epoch in the :data:`EPOCH_HEADER` header.
* Applying a batch (recovery of an active partition, a standby copy) drops every record whose epoch is
  below the newest epoch seen in its partition; ``cxstream_changelog_fenced_total{table}`` counts them.
  Records without the header (written before fencing existed) are applied in order, as before.

The zombie's records stay in the topic (a broker cannot refuse them without transactions) but are never
applied. The zombie itself stops at its first write after the pause (:mod:`cxstream.agents.stall`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import faust
from faust.types import TP, EventT

from cxstream.agents import stall
from cxstream.domain import base
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import CHANGELOG_FENCED, OWNER_EPOCHS

log = get_logger(__name__)

EPOCH_HEADER = "cxstream-epoch"
MARKER_KEY = "__cxstream_owner__"


class Epochs:
    """The fencing rule for one table, per changelog partition (pure bookkeeping, no Kafka).

    The newest epoch is a property of a position in the log: re-reading a partition from an earlier offset
    (a full recovery after the partition came back to this worker) starts from the epoch that held there,
    not from the newest one seen at the end, or every older record would look stale."""

    def __init__(self) -> None:
        self._points: dict[int, list[tuple[int, int]]] = {}  # per partition: (offset, epoch) where it rose
        self._last: dict[int, int] = {}  # per partition: the offset of the last record read
        self.mine: dict[int, int] = {}  # the epoch this worker writes with, per partition it owns

    def newest(self, partition: int) -> int | None:
        points = self._points.get(partition)
        return points[-1][1] if points else None

    def admit(self, partition: int, offset: int, epoch: int | None) -> bool:
        """Whether the record at ``offset`` of ``partition`` with ``epoch`` is applied."""
        points = self._points.setdefault(partition, [])
        last = self._last.get(partition)
        if last is not None and offset <= last:  # read again from an earlier offset
            while points and points[-1][0] >= offset:
                points.pop()
        self._last[partition] = offset
        if epoch is None:
            return True
        newest = points[-1][1] if points else None
        if newest is not None and epoch < newest:
            return False
        if newest is None or epoch > newest:
            points.append((offset, epoch))
        return True

    def take(self, partition: int, now_ms: int) -> int:
        """Become the owner of ``partition``: an epoch above every one read there, not below ``now_ms``."""
        epoch = max((self.newest(partition) or 0) + 1, now_ms, self.mine.get(partition, 0) + 1)
        self.mine[partition] = epoch
        return epoch

    def writing(self, partition: int, now_ms: int) -> int:
        """The epoch to stamp on a write to ``partition``: taken now if ownership was never announced, or if
        another owner wrote there since (read as a standby copy)."""
        epoch = self.mine.get(partition)
        newest = self.newest(partition)
        if epoch is None or (newest is not None and epoch < newest):
            return self.take(partition, now_ms)
        return epoch


def epoch_of(headers: Any) -> int | None:
    """The epoch header of a record, if any (headers come as a mapping or as (name, bytes) pairs)."""
    if not headers:
        return None
    pairs = headers.items() if hasattr(headers, "items") else headers
    for name, value in pairs:
        if name == EPOCH_HEADER:
            try:
                return int(value.decode() if isinstance(value, bytes | bytearray) else value)
            except (TypeError, ValueError):
                return None
    return None


class FencedTable(faust.Table[Any, Any]):
    """A Faust table whose changelog records carry their writer's epoch (see the module docstring). Set as
    the app's ``Table`` class, so every ``app.Table`` is one."""

    _epochs: Epochs | None = None

    @property
    def epochs(self) -> Epochs:
        if self._epochs is None:
            self._epochs = Epochs()
        return self._epochs

    def _partition(self, key: Any) -> int:
        partition = self.partition_for_key(key)
        if partition is None:  # only tables with use_partitioner; cxstream has none
            raise TypeError(f"table {self.name}: a changelog write needs its partition")
        return partition

    def on_key_set(self, key: Any, value: Any) -> None:
        """Faust's, without the future message it no longer gets back (writes wait in the producer's batch)."""
        partition = self._partition(key)
        self.send_changelog(partition, key, value)
        self._maybe_set_key_ttl(key, partition)
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        partition = self._partition(key)
        self.send_changelog(partition, key, None, value_serializer="raw")
        self._maybe_del_key_ttl(key, partition)
        self._sensor_on_del(self, key)

    def send_changelog(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> Any:
        stall.watch.check()  # a worker that was paused past its session timeout writes nothing more
        if partition is None:  # only tables with use_partitioner; cxstream has none
            raise TypeError(f"table {self.name}: a changelog write needs its partition")
        epoch = self.epochs.writing(partition, base.now_ms())
        self._write(partition, key, value, epoch, key_serializer, value_serializer)
        return None

    def _write(self, partition: int, key: Any, value: Any, epoch: int, key_serializer: Any = None,
               value_serializer: Any = None) -> None:  # fmt: skip
        """One changelog record, serialized as Faust's changelog topic would, with the writer's epoch; through the
        producer's batched writes when it has them (see :mod:`cxstream.agents.outbox`)."""
        headers = [(EPOCH_HEADER, str(epoch).encode())]
        key_serializer = key_serializer if key_serializer is not None else self.key_serializer
        value_serializer = value_serializer if value_serializer is not None else self.value_serializer
        writes = getattr(self.app.producer, "outbox", None)
        if writes is None:
            self.changelog_topic.send_soon(key=key, value=value, partition=partition, headers=headers,
                                           key_serializer=key_serializer, value_serializer=value_serializer,
                                           callback=self._on_changelog_sent, eager_partitioning=True)  # fmt: skip
            return
        topic = self.changelog_topic
        key_bytes = topic.prepare_key(key, key_serializer)[0]
        value_bytes = topic.prepare_value(value, value_serializer)[0] if value is not None else None
        writes.put(self, topic.get_topic_name(), partition, key_bytes, value_bytes, headers)

    def apply_changelog_batch(self, batch: Iterable[EventT[Any]]) -> None:
        kept = []
        fenced = 0
        for event in batch:
            message = event.message
            epoch = epoch_of(message.headers)
            admitted = self.epochs.admit(message.partition, message.offset, epoch)
            if event.key == MARKER_KEY:
                continue  # an owner marker: its epoch counts, it is not a table value
            if admitted:
                kept.append(event)
            else:
                fenced += 1
        if fenced:
            CHANGELOG_FENCED.labels(table=self.name).inc(fenced)
            log.warning("changelog_records_fenced", table=self.name, records=fenced,
                        detail="written by a worker that had lost the partition; not applied")  # fmt: skip
        super().apply_changelog_batch(kept)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        """This worker owns ``active_tps`` now (read to their end): take an epoch for each and announce it."""
        now = base.now_ms()
        for tp in sorted(active_tps):
            epoch = self.epochs.take(tp.partition, now)
            # the value is a number: it decodes for every table's value type (JSON values, counters)
            self._write(tp.partition, MARKER_KEY, epoch, epoch)
            OWNER_EPOCHS.labels(table=self.name).inc()
        await super().on_recovery_completed(active_tps, standby_tps)
