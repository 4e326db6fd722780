"""Backfill: canonical events from past exports summed straight into history periods, never into the live windows.

Events come through the same connectors and validation as live records (without the age horizon: history is
old by nature); here they are only counted. Each file is its own origin (``import:<digest of its bytes>``), so
importing the same file again writes the same keys with the same values, and another file adds its own keys
instead of replacing the first one's. Within one run an event id is counted once across all files.

Days on or after ``until`` belong to the live tables (by default the first day the live partitions
published): those events are skipped, so a day is never counted from both sides.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from cxstream.domain.base import to_ms
from cxstream.domain.history.closing import periods_of
from cxstream.domain.history.facts import IMPORT_PREFIX, FactKey, HistoryFact
from cxstream.domain.ingest.enrichment import drivers_of
from cxstream.domain.ingest.events import CanonicalEvent
from cxstream.domain.ingest.tickets import creation_ms, ticket_key, with_creation
from cxstream.domain.metrics.cells import bucket_start
from cxstream.domain.metrics.measure import updates_for
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient


class Counted(StrEnum):
    """What became of one event of a backfilled file."""

    COUNTED = "counted"  # in at least one definition's history
    NOT_MEASURED = "not measured"  # valid, but no definition counts it (a comment, an order created)
    DUPLICATE = "duplicate"  # its id was counted already in this run
    LIVE_DAYS = "live days"  # on or after the first live day
    PAST_RETENTION = "past retention"  # older than every matching definition keeps


def import_origin(source: str, content_sha256: str) -> str:
    """The origin of one file's facts: the same bytes through the same connector are the same origin."""
    return IMPORT_PREFIX + hashlib.sha256(f"{source}\n{content_sha256}".encode()).hexdigest()[:16]


@dataclass
class _Sum:
    stats: Sufficient = field(default_factory=Sufficient)
    drivers: dict[str, int] = field(default_factory=dict)
    records: int = 0


class Backfill:
    """Sums events into period facts per origin. ``until_ms``: events at or after it are left to the live
    tables; ``now_ms``: retention is counted back from it."""

    def __init__(self, spec: MetricsSpec, until_ms: int, now_ms: int) -> None:
        self.spec = spec
        self.until_ms = until_ms
        self.now_ms = now_ms
        self._periods = periods_of(spec)
        self._policies = {d.id: d.history for d in spec.definitions}
        self._dimensions = {d.id: d.dimensions for d in spec.definitions}
        self._seen: set[int] = set()  # 64-bit digests of the event ids counted: 8 bytes of digest per event
        self._tickets: dict[str, int] = {}
        self._sums: dict[FactKey, _Sum] = {}
        self.outcomes: Counter[Counted] = Counter()

    def add(self, event: CanonicalEvent, origin: str) -> Counted:
        outcome = self._add(event, origin)
        self.outcomes[outcome] += 1
        return outcome

    def _add(self, event: CanonicalEvent, origin: str) -> Counted:
        digest = int.from_bytes(hashlib.blake2b(event.event_id.encode(), digest_size=8).digest(), "big")
        if digest in self._seen:
            return Counted.DUPLICATE
        self._seen.add(digest)
        key = ticket_key(event)
        created = creation_ms(event)
        if key is not None and created is not None:
            self._tickets.setdefault(key, created)
        event = with_creation(event, self._tickets.get(key) if key is not None else None)
        event_ms = to_ms(event.event_time)
        if event_ms >= self.until_ms:
            return Counted.LIVE_DAYS
        updates = updates_for(self.spec, event, 0, drivers_of(event))
        if not updates:
            return Counted.NOT_MEASURED
        kept = 0
        for update in updates:
            definition = update.key.definition
            for period in self._periods[definition]:
                if bucket_start(event_ms, period) + period < self.now_ms - self._policies[definition].retention_of(
                    period
                ):
                    continue
                kept += 1
                fact_key = FactKey(definition, period, bucket_start(event_ms, period), origin, update.key.scope)
                total = self._sums.get(fact_key)
                if total is None:
                    total = self._sums[fact_key] = _Sum()
                total.stats.merge(update.delta)
                total.records += 1
                for driver in update.drivers:
                    total.drivers[driver] = total.drivers.get(driver, 0) + 1
        return Counted.COUNTED if kept else Counted.PAST_RETENTION

    def facts(self) -> list[HistoryFact]:
        """Every period summed so far; the version of an imported fact is the number of events in it."""
        return [
            HistoryFact(key, self._dimensions[key.definition], total.stats, dict(total.drivers), total.records)
            for key, total in sorted(self._sums.items(), key=lambda kv: (kv[0].start_ms, kv[0].definition))
        ]

    def days_per_definition(self) -> dict[str, int]:
        """Distinct days written per definition."""
        days: dict[str, set[int]] = {}
        for key in self._sums:
            if key.period_ms == DAY_MS:
                days.setdefault(key.definition, set()).add(key.start_ms)
        return {d: len(s) for d, s in sorted(days.items())}
