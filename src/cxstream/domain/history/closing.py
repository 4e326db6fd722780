"""When a period is closed, and the facts a partition publishes for it.

A period (a UTC day, or a declared 15/30-minute interval) of a partition is **closed** when the partition's
watermark, the latest ingest time of the events it has processed, is past the period's end + grace + two fine
buckets (the slack id memory also allows for ingest clocks of several normalizers). Every event of the period
that is not late has an ingest time before that, and a partition is read in offset order, so the period's
cells are final: a later event of the period is late and dead-lettered, as it always was. Judging by ingest
time rather than the wall clock keeps a consumer that is hours behind from publishing a day it has not read.

A period's fact is published again only when its cells took in a later offset than the published version
(a consumer that had not read the whole period when its day was closed on another worker's word cannot
happen: each partition closes its own periods).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cxstream.domain.history.facts import FactKey, HistoryFact, live_origin
from cxstream.domain.metrics.cells import Cell, CellKey, bucket_start
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient


def closed_through(spec: MetricsSpec, watermark_ms: int) -> int:
    """Periods ending at or before this are closed for a partition whose watermark is ``watermark_ms``."""
    return watermark_ms - spec.grace_ms - 2 * spec.finest_ms


def periods_of(spec: MetricsSpec) -> dict[str, tuple[int, ...]]:
    """Period lengths kept per definition: the day, and the declared interval when there is one."""
    out: dict[str, tuple[int, ...]] = {}
    for definition in spec.definitions:
        interval = definition.history.interval_ms
        out[definition.id] = (DAY_MS, interval) if interval else (DAY_MS,)
    return out


def holds_fine_cell(spec: MetricsSpec, key: CellKey, through_ms: int) -> bool:
    """Whether a fine cell must not be folded yet: its definition keeps intervals and the interval holding it
    is not closed (folding would lose the interval's detail)."""
    interval = spec.definition(key.definition).history.interval_ms
    if interval is None or key.grain >= interval:
        return False
    return bucket_start(key.bucket, interval) + interval > through_ms


@dataclass
class _Group:
    cells: list[Cell]
    dimensions: tuple[str, ...]


def _version(cell: Cell) -> int:
    return max([cell.value.offset, *cell.value.absorbed.values()])


def closing_facts(
    spec: MetricsSpec,
    cells: Iterable[Cell],
    partition: int,
    watermark_ms: int,
    published: Callable[[FactKey], int | None],
    now_ms: int,
) -> list[HistoryFact]:
    """The facts of ``partition``'s closed periods that were never published, or that took in later offsets
    than their published version. Periods past the definition's history retention are left out."""
    through = closed_through(spec, watermark_ms)
    periods = periods_of(spec)
    coarse = spec.grains[-1] if spec.grains else spec.finest_ms
    origin = live_origin(partition)
    mine = [c for c in cells if c.key.partition == partition and c.key.definition in periods]
    coarse_cells = {c.key: c.value for c in mine if c.key.grain == coarse}
    groups: dict[FactKey, _Group] = {}
    for cell in sorted(mine, key=lambda c: (c.key.grain, c.key.bucket)):
        key = cell.key
        for period in periods[key.definition]:
            if key.grain > period or (period != DAY_MS and key.grain != spec.finest_ms):
                continue
            start = bucket_start(key.bucket, period)
            if start + period > through:
                continue
            fact_key = FactKey(key.definition, period, start, origin, key.scope)
            group = groups.get(fact_key)
            if group is None:
                dims = spec.definition(key.definition).dimensions
                group = groups[fact_key] = _Group([], dims)
            group.cells.append(cell)
    out = []
    for fact_key, group in groups.items():
        definition = spec.definition(fact_key.definition)
        if fact_key.start_ms + fact_key.period_ms < now_ms - definition.history.retention_of(fact_key.period_ms):
            continue
        version = max(_version(c) for c in group.cells)
        known = published(fact_key)
        if known is not None and known >= version:
            continue
        stats = Sufficient()
        drivers: dict[str, int] = {}
        for cell in group.cells:
            if cell.key.grain < coarse and fact_key.period_ms >= coarse:
                holder = coarse_cells.get(cell.key.coarse(coarse))
                if holder is not None and holder.taken_in(cell.key.bucket, cell.value):
                    continue  # folded already; a fold cut short left it behind
            stats.merge(cell.value.stats)
            for driver, count in cell.value.drivers.items():
                drivers[driver] = drivers.get(driver, 0) + count
        out.append(HistoryFact(fact_key, group.dimensions, stats, drivers, version))
    return sorted(out, key=lambda f: (f.key.start_ms, f.key.period_ms, f.key.definition, f.key.scope))
