"""The live metric table: Faust wiring around :mod:`cxstream.domain.metrics.spec`.

Two tables, co-partitioned with ``cx.events`` (a duplicate of an event has the same key, so the same
partition):

* ``cxstream-metrics``: the cells, as described in the domain module, each with the last offset applied;
* ``cxstream-metrics-seen``: event id -> the offset it was applied at (an ``AppliedEvent``), written after the
  event's cells.
  Upstream delivery is at-least-once, so after a crash the same event can reach ``cx.events`` twice at
  different offsets; the second is dropped here. The same offset again is a replay: each cell decides whether
  it counts that offset already (or, for a fine cell folded since, the offset its coarse cell absorbed). The
  entry alone cannot: it and the cells are on two changelog topics, and a crash can leave the entry stored
  while a cell write that preceded it was still waiting in the producer. Entries expire with the grace period:
  an older duplicate is late anyway.

A cell knows which offsets it counts from its ``floor`` (this worker's :class:`Progress` on the partition when
it wrote the cell: every record below was handled) and the offsets it applied above it. A record Faust skipped
in a rebalance is read again after the records that followed it were applied; a cell holding only its highest
offset refused it as a replay and lost it (measured: one delivery of 336 in a rebalance storm).

Updates happen inside the ``events-monitor`` agent's iteration, so each event is read once for counting,
validation and metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import faust
from faust.types import TP

from cxstream.agents.assignment import held, owned
from cxstream.agents.cell_replica import CellReplica
from cxstream.agents.history import HistoryFeed, Outgoing
from cxstream.agents.housekeeping import PartitionClock
from cxstream.agents.stores import Store
from cxstream.domain import base
from cxstream.domain.base import to_ms
from cxstream.domain.catalog import Tables
from cxstream.domain.history.closing import closed_through, closing_facts, holds_fine_cell, periods_of
from cxstream.domain.history.facts import HistoryClosed, is_live, live_origin
from cxstream.domain.ingest.enrichment import drivers_of
from cxstream.domain.ingest.events import CanonicalEvent
from cxstream.domain.metrics.cells import (
    AppliedEvent,
    Cell,
    CellKey,
    CellValue,
    Progress,
    apply_update,
    housekeeping,
)
from cxstream.domain.metrics.measure import is_late, updates_for
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import (
    METRIC_CELLS_EXPIRED,
    METRIC_CELLS_FOLDED,
    METRIC_DUPLICATES,
    METRIC_UPDATES,
    METRIC_UPDATES_SKIPPED,
    child,
)

log = get_logger(__name__)
TABLE = Tables.METRICS
SEEN_TABLE = Tables.METRICS_SEEN


class MetricTables:
    def __init__(self, app: faust.App, spec: MetricsSpec, partitions: int, events_topic: str) -> None:
        self.spec = spec
        self.table = app.Table(TABLE, default=None, key_type=str, value_type=None, partitions=partitions)
        self.cells = Store(self.table, CellValue.from_json, CellValue.to_json)
        self.seen = Store(app.Table(SEEN_TABLE, default=None, key_type=str, value_type=None, partitions=partitions),
                          AppliedEvent.from_json, AppliedEvent.to_json)  # fmt: skip
        self._app = app
        self._partitions = partitions
        self._events_topic = events_topic
        self._policies = {d.id: d.history for d in spec.definitions}
        # cells fold or expire after the fine grain's retention; event ids after grace: purge on the shorter
        self._clock = PartitionClock(min(spec.retention_ms(spec.finest_ms), spec.id_memory_ms))
        # history: the latest ingest time read per partition (its watermark), the index of what is published
        # (None: history off), and what closed since the agent last published
        self._watermarks: dict[int, int] = {}
        self._closed_to: dict[int, int] = {}  # the closed-through time of each partition's last closing
        self._shortest_period = min(min(periods_of(spec).values(), key=min, default=(DAY_MS,)))
        self.history: HistoryFeed | None = None
        self.replica: CellReplica | None = None  # the other workers' cells that rules and handovers read
        self._outbox: list[Outgoing] = []
        self._progress: dict[int, Progress] = {}  # per cx.events partition, since it was last assigned
        app.on_partitions_revoked.connect(self._forget_progress)
        app.on_partitions_assigned.connect(self._forget_progress)

    async def _forget_progress(self, *args: object, **kwargs: object) -> None:
        """After a rebalance every partition starts again from its committed offset (another worker may have
        handled it meanwhile). What this worker handled of each partition since the last rebalance is logged
        (``partition_progress``): which worker counted which offsets, after the fact."""
        for partition, progress in sorted(self._progress.items()):
            log.info("partition_progress", topic=self._events_topic, partition=partition, start=progress.start,
                     floor=progress.floor, ahead=progress.ahead)  # fmt: skip
        self._progress.clear()

    def handled(self, partition: int, offset: int) -> None:
        """The events agent handled the record at ``offset`` (counted, late, a duplicate or nothing to count)."""
        self._progress_of(partition).handled(offset)

    def _progress_of(self, partition: int) -> Progress:
        committed = self._committed(partition)
        progress = self._progress.get(partition)
        if progress is None:
            progress = self._progress[partition] = Progress(committed or 0)
        progress.committed(committed)
        return progress

    def _committed(self, partition: int) -> int | None:
        consumer = getattr(self._app, "_consumer", None)
        if consumer is None:
            return None
        offsets = getattr(consumer, "_committed_offset", {})  # faust keeps no public accessor for it
        value = offsets.get(TP(self._events_topic, partition))
        return int(value) if value is not None else None

    @property
    def enabled(self) -> bool:
        return bool(self.spec.definitions)

    def is_late(self, event: CanonicalEvent) -> bool:
        return is_late(self.spec, event)

    def matches(self, event: CanonicalEvent, partition: int) -> bool:
        return bool(updates_for(self.spec, event, partition))

    def advance(self, event: CanonicalEvent, partition: int) -> None:
        """Move the partition's watermark to the event's ingest time (every event read, late ones too); when that
        closes a period, queue what it closed (:meth:`drain`)."""
        ingest_ms = to_ms(event.ingest_time)
        if ingest_ms <= self._watermarks.get(partition, 0):
            return
        self._watermarks[partition] = ingest_ms
        step = self._shortest_period
        if closed_through(self.spec, ingest_ms) // step > self._closed_to.get(partition, -step) // step:
            self._maybe_close(partition, None)

    def drain(self) -> list[Outgoing]:
        """The history entries closed since the last call, to publish (inside the agent's iteration)."""
        out, self._outbox = self._outbox, []
        return out

    def apply(self, event: CanonicalEvent, partition: int, offset: int) -> int:
        """Apply one event; returns the number of cells written. Must run inside the agent's iteration over
        ``cx.events`` (table writes go to the changelog partition of the current event)."""
        updates = updates_for(self.spec, event, partition, drivers_of(event))
        if not updates:
            return 0
        floor = self._progress_of(partition).floor
        prior = self.seen.get(event.event_id)
        if prior is not None and prior.offset != offset:
            METRIC_DUPLICATES.inc()
            self._maybe_purge(partition)
            return 0
        # the same offset again (a replay) still goes cell by cell: the entry and the cells are on two
        # changelogs, and a crash can leave the entry written without some of the cells
        written = 0
        for update in updates:
            key = update.key.encode()
            current = self.cells.get(key)
            folded = self._folded_into(update.key) if current is None else None
            value = apply_update(current, update, offset, folded, floor)
            if value is None:
                METRIC_UPDATES_SKIPPED.labels(definition=update.key.definition).inc()
                continue
            self.cells[key] = value
            child(METRIC_UPDATES, update.key.definition).inc()
            written += 1
        if prior is None:
            self.seen[event.event_id] = AppliedEvent(offset, to_ms(event.event_time), partition)
        self._maybe_purge(partition)
        return written

    def _folded_into(self, key: CellKey) -> CellValue | None:
        """The coarse cell a fine cell folds into, when the spec has one."""
        coarse = self.spec.grains[-1] if self.spec.grains else key.grain
        return self.cells.get(key.coarse(coarse).encode()) if coarse != key.grain else None

    def _maybe_purge(self, partition: int) -> None:
        """Fold and expire this partition's cells, and forget its old event ids (see ``agents.housekeeping``).
        Only this partition: table changes go to the changelog partition of the event being processed."""
        if not self._clock.due(partition):
            return
        now_ms = base.now_ms()
        through = closed_through(self.spec, self._watermarks.get(partition, 0))
        cells = list(self._cells())
        self._maybe_close(partition, cells)
        hold = (
            (lambda key: holds_fine_cell(self.spec, key, through)) if self.history is not None else (lambda key: False)
        )
        plan = housekeeping(cells, partition, now_ms, self.spec, hold)
        for key, value in plan.writes.items():
            self.cells[key.encode()] = value
        for key in plan.deletes:
            del self.cells[key.encode()]
        METRIC_CELLS_FOLDED.inc(len(plan.writes))
        METRIC_CELLS_EXPIRED.inc(len(plan.deletes))
        self.seen.expire(partition, now_ms - self.spec.id_memory_ms, partition_of=lambda v: v.partition,
                         time_of=lambda v: v.event_ms)  # fmt: skip

    def _maybe_close(self, partition: int, cells: list[Cell] | None) -> None:
        """Close what the partition's watermark has closed, once the history index has caught up with the topic
        (it says what was published already); otherwise the next housekeeping tries again."""
        watermark = self._watermarks.get(partition, 0)
        if self.history is None or not self.history.ready or not watermark:
            return
        self._close(list(self._cells()) if cells is None else cells, partition, watermark, base.now_ms())
        self._closed_to[partition] = closed_through(self.spec, watermark)

    def _close(self, cells: list[Cell], partition: int, watermark: int, now_ms: int) -> None:
        """Queue this partition's newly closed periods, its closure mark, and tombstones for its periods past
        their retention (partition 0 also for imported files)."""
        assert self.history is not None
        index = self.history.index
        facts = closing_facts(self.spec, cells, partition, watermark, index.version, now_ms)
        self._outbox += [(f.key.encode(), f) for f in facts]
        origin = live_origin(partition)
        closure = HistoryClosed(origin, closed_through(self.spec, watermark), self._partitions)
        held_closure = index.closed(origin)
        if held_closure is not None and held_closure.through_ms >= closure.through_ms:
            return
        if held_closure is None or held_closure.through_ms // DAY_MS < closure.through_ms // DAY_MS:
            for fact in index.all_facts():  # once a day: the index holds years
                if fact.key.origin == origin or (partition == 0 and not is_live(fact.key.origin)):
                    policy = self._policies.get(fact.key.definition)
                    if policy is not None and fact.end_ms < now_ms - policy.retention_of(fact.key.period_ms):
                        self._outbox.append((fact.key.encode(), None))
        self._outbox.append((closure.key(), closure))

    def coverage(self) -> tuple[int, int]:
        """(cx.events partitions this worker holds, partitions in all): reads are complete only when equal."""
        return len(self.held_partitions()), self._partitions

    def held_partitions(self) -> set[int]:
        return held(self._app, self._events_topic)

    def partial(self) -> bool:
        """This worker has its share of the group's partitions, and that share lacks some ``cx.events`` partitions
        (other workers hold them). Before its first assignment a worker knows nothing yet."""
        assignor: Any = self._app.assignor
        if assignor is None or not assignor.assigned_actives():
            return False
        return len(self.held_partitions()) < self._partitions

    def whole(self) -> tuple[list[Cell], int] | None:
        """The cells of every ``cx.events`` partition: this worker's own, and for the partitions other workers hold
        their cells as the replica read them from the changelog (the definitions threshold rules and handovers
        read). Returns the cells and how many partitions came from the replica; None while that cannot be had (the
        replica still loading, or a partition without an owner: in a rebalance)."""
        mine = self.held_partitions()
        if len(mine) == self._partitions:
            return self.snapshot(), 0
        if self.replica is None or not self.replica.ready:
            return None
        others = set(range(self._partitions)) - mine
        if not others <= owned(self._app, self.table.changelog_topic.get_topic_name()):
            return None
        return self.snapshot(self.replica.cells(others)), len(others)

    def snapshot(self, extra: Iterable[Cell] = ()) -> list[Cell]:
        """The stored cells of the ``cx.events`` partitions this worker holds (standby copies of other workers'
        partitions are left out: they can lag behind), plus ``extra`` ones (other workers' partitions)."""
        mine = self.held_partitions()
        return [c for c in self._cells() if c.key.partition in mine] + list(extra)

    def held_cells(self, definitions: set[str]) -> list[Cell]:
        """The stored cells of ``definitions`` on the partitions this worker holds: what another worker merges
        into a read that spans every partition."""
        mine = self.held_partitions()
        return [c for c in self._cells() if c.key.partition in mine and c.key.definition in definitions]

    def _cells(self) -> Iterator[Cell]:
        for key, value in self.cells.items():
            yield Cell(CellKey.decode(key), value)
