"""The metric table's keys and values, and the changes that keep it small.

Storage layout, chosen for cost (each table write is also a changelog message):

* one table key per (definition, time grain, bucket, source partition, finest scope): the event's values of all
  the definition's dimensions. An event writes one cell per definition it matches, in the finest grain
  (5-minute buckets), and no repartition message: the key carries the ``cx.events`` partition it came from,
  so every key is written by exactly one partition, in offset order.
* once no real-time window reads a 5-minute cell any more, it is folded into the 1-hour cell of the same
  hour that feeds the lagging windows (day, week); the hourly cell records, per bucket absorbed, the last
  offset it took in, so a fold interrupted by a crash never counts a bucket twice, while events that reach
  a bucket after its fold (a consumer hours behind) are still counted and folded later. Lagging windows
  read hourly cells plus the 5-minute cells not folded yet.
* values are :class:`~cxstream.domain.metrics.stats.Sufficient` statistics plus the offset of the last event
  applied. A replay after a crash skips events at or below that offset: updates are idempotent per key, which
  makes them effectively-once without broker transactions.

Encodings (what the changelog holds) are defined here once: a key is the JSON list
``[definition, grain, bucket, partition, [scope...]]``; a value is the compact statistics object
(:meth:`Sufficient.to_json`) with ``o`` (last offset applied, fine cells), ``f`` (fine bucket -> last offset
absorbed, coarse cells) and ``d`` (driver counts among detractors).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from cxstream.domain.base import Json, JsonObject, as_int, int_map, obj, seq
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.domain.metrics.stats import Sufficient


def bucket_start(time_ms: int, bucket_ms: int) -> int:
    return time_ms - time_ms % bucket_ms


@dataclass(frozen=True)
class CellKey:
    """A table key: one definition, one time grain and bucket, one source partition, one finest scope."""

    definition: str
    grain: int
    bucket: int
    partition: int
    scope: tuple[str, ...]

    def encode(self) -> str:
        return json.dumps(
            [self.definition, self.grain, self.bucket, self.partition, list(self.scope)], separators=(",", ":")
        )

    @classmethod
    def decode(cls, text: str) -> CellKey:
        definition, grain, bucket, partition, scope = seq(json.loads(text), "cell key")
        return cls(str(definition), as_int(grain), as_int(bucket), as_int(partition), tuple(str(s) for s in seq(scope)))

    def coarse(self, grain: int) -> CellKey:
        """The key of the coarser cell this one folds into."""
        return CellKey(self.definition, grain, bucket_start(self.bucket, grain), self.partition, self.scope)


@dataclass(frozen=True)
class CellValue:
    """What a cell holds: statistics, the highest offset applied (fine cells), the last offset absorbed per fine
    bucket (coarse cells), and the drivers counted among detractors.

    Which offsets of its partition a fine cell counts: every one below ``floor`` that concerns it (the writer
    had handled its partition without a gap up to there), those in ``recent`` (applied above the floor: a
    record skipped in a rebalance leaves a gap, and the records after it are applied first), none above
    ``offset``. A cell written before floors existed (``floor`` -1) counts every offset up to ``offset``."""

    stats: Sufficient
    offset: int = -1
    absorbed: Mapping[int, int] = field(default_factory=dict)
    drivers: Mapping[str, int] = field(default_factory=dict)
    floor: int = -1
    recent: tuple[int, ...] = ()

    def holds(self, offset: int) -> bool:
        """Whether the record at ``offset`` of the cell's partition is counted in it already."""
        if offset > self.offset:
            return False
        return offset in self.recent or offset < (self.floor if self.floor >= 0 else self.offset + 1)

    def to_json(self) -> JsonObject:
        out: JsonObject = dict(self.stats.to_json())
        if self.offset >= 0:
            out["o"] = self.offset
        if self.floor >= 0:
            out["w"] = self.floor
        if self.recent:
            out["r"] = list(self.recent)
        if self.absorbed:
            absorbed: JsonObject = {str(b): o for b, o in self.absorbed.items()}
            out["f"] = absorbed
        if self.drivers:
            drivers: JsonObject = dict(self.drivers)
            out["d"] = drivers
        return out

    @classmethod
    def from_json(cls, data: object) -> CellValue:
        value = obj(data, "cell value")
        recent = value.get("r", [])
        if not isinstance(recent, list):
            raise ValueError("cell value r: a list of offsets")
        return cls(
            Sufficient.from_json(value),
            as_int(value.get("o", -1)),
            {int(b): o for b, o in int_map(value.get("f"), "cell value f").items()},
            int_map(value.get("d"), "cell value d"),
            as_int(value.get("w", -1)),
            tuple(as_int(o) for o in recent),
        )

    def taken_in(self, fine_bucket: int, fine: CellValue) -> bool:
        """The fine cell's content is in this coarse cell already (a fold cut short left it behind)."""
        taken = self.absorbed.get(fine_bucket)
        return taken is not None and fine.offset <= taken

    def absorb(self, fine_bucket: int, fine: CellValue) -> CellValue:
        """This coarse cell with a fine cell folded in."""
        drivers = dict(self.drivers)
        for driver, count in fine.drivers.items():
            drivers[driver] = drivers.get(driver, 0) + count
        absorbed = dict(self.absorbed)
        absorbed[fine_bucket] = max(absorbed.get(fine_bucket, -1), fine.offset)
        return CellValue(Sufficient.merged([self.stats, fine.stats]), -1, absorbed, drivers)


@dataclass(frozen=True)
class Cell:
    key: CellKey
    value: CellValue

    @classmethod
    def decode(cls, key: str, value: Json) -> Cell:
        """A cell as another worker sends it (``[key text, value]``)."""
        return cls(CellKey.decode(key), CellValue.from_json(value))

    def encode(self) -> tuple[str, JsonObject]:
        return self.key.encode(), self.value.to_json()


@dataclass(frozen=True)
class Update:
    key: CellKey
    delta: Sufficient
    drivers: tuple[str, ...] = ()  # verbatim drivers of a detractor answer, counted per cell


def apply_update(
    current: CellValue | None,
    update: Update,
    offset: int,
    folded_into: CellValue | None = None,
    floor: int | None = None,
) -> CellValue | None:
    """The new cell value, or None when this offset was already applied to the cell (a replay). A missing fine
    cell may have been folded already: ``folded_into`` is its coarse cell, which says up to which offset it took
    the bucket in. ``floor``: every offset of the partition below it has been handled by this writer (without
    it, the cell counts every offset up to its highest as applied: right only for records applied in order)."""
    if current is not None and current.holds(offset):
        return None
    if current is None and folded_into is not None and folded_into.absorbed.get(update.key.bucket, -1) >= offset:
        return None
    drivers = dict(current.drivers) if current is not None else {}
    for driver in update.drivers:
        drivers[driver] = drivers.get(driver, 0) + 1
    stats = (
        Sufficient.merged([current.stats, update.delta]) if current is not None else Sufficient.merged([update.delta])
    )
    highest = max(offset, current.offset) if current is not None else offset
    if floor is None:
        return CellValue(stats, highest, {}, drivers)
    kept = current.floor if current is not None and current.floor >= 0 else -1
    if current is not None and current.floor < 0 and current.offset >= 0:
        kept = current.offset + 1  # written before floors: it counted everything up to its offset
    new_floor = max(kept, floor)
    earlier = current.recent if current is not None else ()
    recent = tuple(sorted(o for o in {*earlier, offset} if o >= new_floor))
    return CellValue(stats, highest, {}, drivers, new_floor, recent)


class Progress:
    """How far a worker has handled one partition without a gap: ``floor`` is the lowest offset it has not
    handled. Starts at the partition's committed offset (everything below was handled and written), moves on
    as records are handled (a record skipped in a rebalance holds it until the record is read again), and
    never falls behind a newer commit."""

    def __init__(self, start: int) -> None:
        self.start = self.floor = max(0, start)
        self._ahead: set[int] = set()

    @property
    def ahead(self) -> int:
        """Records handled above the floor (a gap below them is not handled yet)."""
        return len(self._ahead)

    def handled(self, offset: int) -> None:
        if offset < self.floor:
            return
        self._ahead.add(offset)
        while self.floor in self._ahead:
            self._ahead.discard(self.floor)
            self.floor += 1

    def committed(self, offset: int | None) -> None:
        """Everything below a committed offset was handled (commits never pass an unhandled record)."""
        if offset is None or offset <= self.floor:
            return
        self.floor = offset
        self._ahead = {o for o in self._ahead if o >= offset}
        while self.floor in self._ahead:
            self._ahead.discard(self.floor)
            self.floor += 1


@dataclass(frozen=True)
class AppliedEvent:
    """The metrics' memory of one event id: the offset it was applied at (a different offset is a duplicate
    published again upstream), its event time and its partition (for expiry). Stored as
    ``[offset, event ms, partition]``."""

    offset: int
    event_ms: int
    partition: int

    def to_json(self) -> list[Json]:
        return [self.offset, self.event_ms, self.partition]

    @classmethod
    def from_json(cls, data: object) -> AppliedEvent:
        offset, event_ms, partition = seq(data, "applied event")[:3]
        return cls(as_int(offset), as_int(event_ms), as_int(partition))


def is_expired(key: CellKey, now_ms: int, spec: MetricsSpec) -> bool:
    """A bucket no window can still read: older than the longest window of its grain plus grace."""
    return key.bucket + key.grain < now_ms - spec.retention_ms(key.grain)


@dataclass(frozen=True)
class Housekeeping:
    """Table changes that keep the metric table small: values to write and keys to delete."""

    writes: dict[CellKey, CellValue]
    deletes: list[CellKey]


def housekeeping(
    cells: Iterable[Cell],
    partition: int,
    now_ms: int,
    spec: MetricsSpec,
    hold: Callable[[CellKey], bool] = lambda key: False,
) -> Housekeeping:
    """Fold the fine cells of ``partition`` that no real-time window reads any more into their coarse cell, and
    delete cells no window reads at all. Only this partition's keys: the changes go to its changelog. A fine
    cell that ``hold`` holds is not folded yet (its interval's history is not published)."""
    grains = spec.grains
    fine, coarse = grains[0] if grains else spec.finest_ms, grains[-1] if grains else spec.finest_ms
    table = {c.key: c.value for c in cells}
    writes: dict[CellKey, CellValue] = {}
    deletes: list[CellKey] = []
    for key, value in table.items():
        if key.partition != partition:
            continue
        if key.grain == fine and coarse != fine and key.bucket + fine < now_ms - spec.retention_ms(fine):
            if hold(key):
                continue
            target = key.coarse(coarse)
            current = writes.get(target) or table.get(target) or CellValue(Sufficient())
            if not current.taken_in(key.bucket, value):
                writes[target] = current.absorb(key.bucket, value)
            deletes.append(key)
        elif is_expired(key, now_ms, spec):
            deletes.append(key)
    for target in [t for t in writes if is_expired(t, now_ms, spec)]:
        del writes[target]
        if target in table:
            deletes.append(target)
    return Housekeeping(writes, deletes)
