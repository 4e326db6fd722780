"""The history topic read into memory: the latest fact of each key (highest version wins), and how far each
origin has closed its periods. Every worker and the CLI build one by reading ``cx.metrics.history``."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cxstream.domain.history.facts import (
    CLOSED_KEY,
    FactKey,
    HistoryClosed,
    HistoryEntry,
    HistoryFact,
    is_live,
    live_origin,
)

NO_DRIVERS: Mapping[str, int] = MappingProxyType({})


def fact_key_of(text: str) -> FactKey | None:
    """The fact key of a key text, or None for a closure key."""
    parts = json.loads(text)
    if not isinstance(parts, list) or not parts or parts[0] == CLOSED_KEY:
        return None
    definition, period_ms, start_ms, origin, scope = parts
    return FactKey(str(definition), int(period_ms), int(start_ms), str(origin), tuple(str(s) for s in scope))


@dataclass(frozen=True)
class Coverage:
    """How far history is complete: up to ``through_ms``, the earliest closure of the live partitions (with
    ``closed`` of ``partitions`` partitions having closed anything); before any live partition has, the
    latest day an imported file was loaded up to."""

    through_ms: int | None
    closed: int
    partitions: int


class HistoryIndex:
    def __init__(self) -> None:
        self._facts: dict[str, dict[FactKey, HistoryFact]] = {}
        # the keys of each (definition, period length) by start: reads of a range skip every other period
        self._starts: dict[tuple[str, int], dict[int, set[FactKey]]] = {}
        self._closed: dict[str, HistoryClosed] = {}
        self.stale_ignored = 0  # facts older than the version held (e.g. a fenced worker's late write)
        self._shared: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._names: dict[str, str] = {}

    def apply(self, key_text: str, entry: HistoryEntry | None) -> None:
        """One record of the topic, in order; ``None`` is a tombstone."""
        if isinstance(entry, HistoryClosed):
            held = self._closed.get(entry.origin)
            if held is None or entry.through_ms >= held.through_ms:
                self._closed[entry.origin] = entry
            return
        if entry is None:
            key = fact_key_of(key_text)
            if key is None:
                self._closed.pop(json.loads(key_text)[1], None)
            elif self._facts.get(key.definition, {}).pop(key, None) is not None:
                starts = self._starts.get((key.definition, key.period_ms), {})
                keys = starts.get(key.start_ms)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del starts[key.start_ms]
            return
        facts = self._facts.setdefault(entry.key.definition, {})
        held_fact = facts.get(entry.key)
        if held_fact is not None and entry.version < held_fact.version:
            self.stale_ignored += 1
            return
        if held_fact is not None:
            facts[held_fact.key] = self._interned(entry, held_fact.key)
        else:
            interned = self._interned(entry)
            facts[interned.key] = interned
            k = interned.key
            self._starts.setdefault((k.definition, k.period_ms), {}).setdefault(k.start_ms, set()).add(k)

    def _interned(self, fact: HistoryFact, key: FactKey | None = None) -> HistoryFact:
        """The fact with its scope, dimensions, origin and empty driver counts shared with every other fact that
        has the same (a year of 15-minute intervals repeats a few scopes hundreds of thousands of times)."""
        dimensions = self._shared.setdefault(fact.dimensions, fact.dimensions)
        drivers = fact.drivers or NO_DRIVERS
        if key is None:
            k = fact.key
            scope = self._shared.setdefault(k.scope, k.scope)
            origin = self._names.setdefault(k.origin, k.origin)
            definition = self._names.setdefault(k.definition, k.definition)
            key = FactKey(definition, k.period_ms, k.start_ms, origin, scope)
        return HistoryFact(key, dimensions, fact.stats, drivers, fact.version)

    def version(self, key: FactKey) -> int | None:
        fact = self._facts.get(key.definition, {}).get(key)
        return None if fact is None else fact.version

    def facts(self, definition: str, period_ms: int, start_ms: int, end_ms: int) -> Iterator[HistoryFact]:
        """Facts of one definition and period length starting in [start, end)."""
        facts = self._facts.get(definition, {})
        for start, keys in list(self._starts.get((definition, period_ms), {}).items()):
            if start_ms <= start < end_ms:
                for key in list(keys):
                    yield facts[key]

    def all_facts(self) -> Iterator[HistoryFact]:
        for facts in self._facts.values():
            yield from facts.values()

    def count(self) -> int:
        return sum(len(f) for f in self._facts.values())

    def closed(self, origin: str) -> HistoryClosed | None:
        return self._closed.get(origin)

    def coverage(self) -> Coverage:
        live = {o: c for o, c in self._closed.items() if is_live(o)}
        partitions = max((c.partitions for c in live.values()), default=0)
        wanted = [live.get(live_origin(p)) for p in range(partitions)]
        closed = [c for c in wanted if c is not None]
        through = min(c.through_ms for c in closed) if closed and len(closed) == partitions else None
        if not partitions:
            imported = [c.through_ms for o, c in self._closed.items() if not is_live(o)]
            through = max(imported, default=None)
        return Coverage(through, len(closed), partitions)

    def origins(self) -> dict[str, int]:
        """Facts per origin."""
        out: dict[str, int] = {}
        for fact in self.all_facts():
            out[fact.key.origin] = out.get(fact.key.origin, 0) + 1
        return out
