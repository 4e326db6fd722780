"""The live metric table: Faust wiring around :mod:`cxstream.domain.metrics`.

One table, ``cxstream-metrics``, co-partitioned with ``cx.events``; keys and values are described in the
domain module. Updates happen inside the ``events-monitor`` agent's iteration, so each event is read once
for counting, validation and metrics.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import faust

from cxstream.domain.enrichment import drivers_of
from cxstream.domain.events import CanonicalEvent
from cxstream.domain.metrics import Cell, CellKey, MetricsSpec, apply_update, cells, is_expired, is_late, updates_for
from cxstream.observability.metrics import METRIC_CELLS_EXPIRED, METRIC_UPDATES, METRIC_UPDATES_SKIPPED

TABLE = "cxstream-metrics"
PURGE_EVERY_S = 60.0


class MetricTables:
    def __init__(self, app: faust.App, spec: MetricsSpec, partitions: int) -> None:
        self.spec = spec
        self.table = app.Table(TABLE, default=None, key_type=str, value_type=None, partitions=partitions)
        self._last_purge: dict[int, float] = {}

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
        written = 0
        for update in updates_for(self.spec, event, partition, drivers_of(event)):
            key = update.key.encode()
            value = apply_update(self.table.get(key), update, offset)
            if value is None:
                METRIC_UPDATES_SKIPPED.labels(definition=update.key.definition).inc()
                continue
            self.table[key] = value
            METRIC_UPDATES.labels(definition=update.key.definition).inc()
            written += 1
        self._maybe_purge(partition)
        return written

    def _maybe_purge(self, partition: int) -> None:
        """Delete expired cells of this partition (only this one: deletions go to the current event's changelog
        partition)."""
        now = time.monotonic()
        if now - self._last_purge.get(partition, 0.0) < PURGE_EVERY_S:
            return
        self._last_purge[partition] = now
        now_ms = int(time.time() * 1000)
        expired = []
        for key in list(self.table.keys()):
            cell = CellKey.decode(key)
            if cell.partition == partition and is_expired(cell, now_ms, self.spec):
                expired.append(key)
        for key in expired:
            del self.table[key]
        METRIC_CELLS_EXPIRED.inc(len(expired))

    def snapshot(self) -> list[Cell]:
        """Every stored cell of the partitions this worker holds (for queries)."""
        return cells(self._items())

    def _items(self) -> Iterator[tuple[str, Any]]:
        for key, value in list(self.table.items()):
            if value is not None:
                yield key, value
