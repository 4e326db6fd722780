"""The live metric table: Faust wiring around :mod:`cxstream.domain.metrics.spec`.

Two tables, co-partitioned with ``cx.events`` (a duplicate of an event has the same key, so the same
partition):

* ``cxstream-metrics``: the cells, as described in the domain module, each with the last offset applied;
* ``cxstream-metrics-seen``: event id -> the offset it was applied at (an ``AppliedEvent``), written after the
  event's cells.
  Upstream delivery is at-least-once, so after a crash the same event can reach ``cx.events`` twice at
  different offsets; the second is dropped here. The same offset again is a replay: each cell's own applied
  offset decides (or, for a fine cell folded since, the offset its coarse cell absorbed). The entry alone
  cannot: it and the cells are on two changelog topics, and a crash can leave the entry stored while a cell
  write that preceded it was still waiting in the producer. Entries expire with the grace period: an older
  duplicate is late anyway.

Updates happen inside the ``events-monitor`` agent's iteration, so each event is read once for counting,
validation and metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import faust

from cxstream.agents.assignment import held
from cxstream.agents.housekeeping import PartitionClock
from cxstream.agents.stores import Store
from cxstream.domain import base
from cxstream.domain.base import to_ms
from cxstream.domain.catalog import Tables
from cxstream.domain.ingest.enrichment import drivers_of
from cxstream.domain.ingest.events import CanonicalEvent
from cxstream.domain.metrics.cells import AppliedEvent, Cell, CellKey, CellValue, apply_update, housekeeping
from cxstream.domain.metrics.measure import is_late, updates_for
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.observability.metrics import (
    METRIC_CELLS_EXPIRED,
    METRIC_CELLS_FOLDED,
    METRIC_DUPLICATES,
    METRIC_UPDATES,
    METRIC_UPDATES_SKIPPED,
)

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
        # cells fold or expire after the fine grain's retention; event ids after grace: purge on the shorter
        self._clock = PartitionClock(min(spec.retention_ms(spec.finest_ms), spec.id_memory_ms))

    @property
    def enabled(self) -> bool:
        return bool(self.spec.definitions)

    def is_late(self, event: CanonicalEvent) -> bool:
        return is_late(self.spec, event)

    def matches(self, event: CanonicalEvent, partition: int) -> bool:
        return bool(updates_for(self.spec, event, partition))

    def apply(self, event: CanonicalEvent, partition: int, offset: int) -> int:
        """Apply one event; returns the number of cells written. Must run inside the agent's iteration over
        ``cx.events`` (table writes go to the changelog partition of the current event)."""
        updates = updates_for(self.spec, event, partition, drivers_of(event))
        if not updates:
            return 0
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
            value = apply_update(current, update, offset, self._folded_into(update.key) if current is None else None)
            if value is None:
                METRIC_UPDATES_SKIPPED.labels(definition=update.key.definition).inc()
                continue
            self.cells[key] = value
            METRIC_UPDATES.labels(definition=update.key.definition).inc()
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
        plan = housekeeping(self._cells(), partition, now_ms, self.spec)
        for key, value in plan.writes.items():
            self.cells[key.encode()] = value
        for key in plan.deletes:
            del self.cells[key.encode()]
        METRIC_CELLS_FOLDED.inc(len(plan.writes))
        METRIC_CELLS_EXPIRED.inc(len(plan.deletes))
        self.seen.expire(partition, now_ms - self.spec.id_memory_ms, partition_of=lambda v: v.partition,
                         time_of=lambda v: v.event_ms)  # fmt: skip

    def coverage(self) -> tuple[int, int]:
        """(cx.events partitions this worker holds, partitions in all): reads are complete only when equal."""
        return len(self.held_partitions()), self._partitions

    def held_partitions(self) -> set[int]:
        return held(self._app, self._events_topic)

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
