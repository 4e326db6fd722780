"""Reading windows and scopes back from the cells: one window of one definition merged over every finest scope
that matches a filter (a roll-up), with its estimate, sample size and interval."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cxstream.domain.base import from_ms, to_ms
from cxstream.domain.metrics.cells import Cell
from cxstream.domain.metrics.spec import UNIT_NAMES, UNKNOWN, Indicator, MetricDefinition, MetricsSpec
from cxstream.domain.metrics.stats import (
    Estimate,
    Sufficient,
    ces_easy,
    ces_mean,
    contact_count,
    csat,
    hit_rate,
    mean_value,
    nps,
)

ScopeFilter = Mapping[str, str]


def scope_values(definition: MetricDefinition, scope: tuple[str, ...]) -> dict[str, str]:
    """A cell's finest scope by dimension name."""
    return dict(zip(definition.dimensions, scope, strict=True))


def _matches(definition: MetricDefinition, scope: tuple[str, ...], where: ScopeFilter) -> bool:
    values = scope_values(definition, scope)
    return all(values.get(name, UNKNOWN) == wanted for name, wanted in where.items())


@dataclass(frozen=True)
class WindowValue:
    """One indicator over one window and scope: the estimate with n and interval, SLA compliance for
    durations, top drivers among detractors, and whether the window is final (past end + grace)."""

    definition: str
    indicator: Indicator
    window: str
    start: datetime
    end: datetime
    scope: Mapping[str, str]
    estimate: Estimate
    sla: Estimate | None
    easy: Estimate | None
    top_drivers: tuple[tuple[str, int], ...]
    final: bool
    stats: Sufficient | None = None  # what the estimate was computed from


_ESTIMATORS: dict[Indicator, Callable[..., Estimate]] = {
    Indicator.CSAT: csat,
    Indicator.CES: ces_mean,
    Indicator.NPS: nps,
    Indicator.REOPEN_RATE: hit_rate,
}


_SKEWED = (Indicator.FIRST_RESPONSE, Indicator.RESOLUTION, Indicator.HANDLE_TIME)


def estimate_of(definition: MetricDefinition, stats: Sufficient, spec: MetricsSpec) -> Estimate:
    min_n = definition.min_n or spec.min_n
    conf = spec.confidence
    if definition.indicator is Indicator.REOPEN_RATE and stats.hits > stats.n:
        # more reopens than solves in this window (tickets solved before it): the rate is capped at 100 %
        stats = Sufficient(n=stats.n, hits=stats.n)
    if definition.indicator is Indicator.CONTACTS:
        return contact_count(stats, confidence=conf, min_n=min_n)
    if definition.indicator in _ESTIMATORS:
        return _ESTIMATORS[definition.indicator](stats, confidence=conf, min_n=min_n)
    log_scale = definition.indicator in _SKEWED  # positive and skewed
    return mean_value(stats, confidence=conf, min_n=min_n, unit=UNIT_NAMES[definition.indicator], log_scale=log_scale)


def read_window(
    spec: MetricsSpec,
    all_cells: Iterable[Cell],
    definition_id: str,
    window_id: str,
    *,
    now: datetime,
    where: ScopeFilter | None = None,
    closed: bool = False,
    ended: bool = False,
    back: int = 0,
    top: int = 5,
) -> WindowValue:
    """One window of one definition, merged over every finest scope matching ``where`` (a roll-up).

    ``closed`` reads the last final window instead of the current one, ``ended`` the last that has ended
    (what alerts read: late events may still change it); ``back`` steps further into the past by whole hops
    (history)."""
    definition = spec.definition(definition_id)
    window = spec.window(window_id)
    grain = spec.grain_ms(window)
    now_ms = to_ms(now)
    if closed:
        span = window.final(now_ms, spec.grace_ms)
    elif ended:
        span = window.ended(now_ms)
    else:
        span = window.current(now_ms)
    span = span.shifted(-back, window.hop_ms)
    filt = dict(where or {})
    for name in filt:
        if name not in definition.dimensions:
            raise KeyError(f"{definition_id} has no dimension {name!r} (it keeps {', '.join(definition.dimensions)})")
    stats = Sufficient()
    drivers: dict[str, int] = {}
    materialized = [c for c in all_cells if c.key.definition == definition_id]
    absorbed = {
        (c.key.partition, c.key.scope, b): o
        for c in materialized
        if c.key.grain == grain
        for b, o in c.value.absorbed.items()
    }
    for cell in materialized:
        key = cell.key
        if not span.holds(key.bucket) or key.grain > grain:
            continue
        taken = absorbed.get((key.partition, key.scope, key.bucket)) if key.grain < grain else None
        if taken is not None and cell.value.offset <= taken:
            continue  # folded already; a fold cut short by a crash left it behind
        if not _matches(definition, key.scope, filt):
            continue
        stats.merge(cell.value.stats)
        for driver, count in cell.value.drivers.items():
            drivers[driver] = drivers.get(driver, 0) + count
    min_n = definition.min_n or spec.min_n
    sla = hit_rate(stats, confidence=spec.confidence, min_n=min_n) if definition.sla is not None else None
    easy = ces_easy(stats, confidence=spec.confidence, min_n=min_n) if definition.indicator is Indicator.CES else None
    ranked = tuple(sorted(drivers.items(), key=lambda kv: (-kv[1], kv[0]))[:top])
    return WindowValue(
        definition=definition_id,
        indicator=definition.indicator,
        window=window_id,
        start=from_ms(span.start_ms),
        end=from_ms(span.end_ms),
        scope=filt,
        estimate=estimate_of(definition, stats, spec),
        sla=sla,
        easy=easy,
        top_drivers=ranked,
        final=span.end_ms + spec.grace_ms <= now_ms,
        stats=stats,
    )


def bucket_series(
    spec: MetricsSpec,
    all_cells: Iterable[Cell],
    definition_id: str,
    start_ms: int,
    end_ms: int,
    where: ScopeFilter | None = None,
) -> list[Sufficient]:
    """The finest-grain buckets of one definition starting in [start, end), oldest first, each merged over
    the finest scopes matching ``where`` (empty buckets included). Buckets folded already are not here: read
    them only within the finest grain's retention."""
    definition = spec.definition(definition_id)
    fine = spec.finest_ms
    filt = dict(where or {})
    out = [Sufficient() for _ in range(max(0, (end_ms - start_ms) // fine))]
    for cell in all_cells:
        key = cell.key
        if key.definition != definition_id or key.grain != fine or not start_ms <= key.bucket < end_ms:
            continue
        if _matches(definition, key.scope, filt):
            out[(key.bucket - start_ms) // fine].merge(cell.value.stats)
    return out


def history(
    spec: MetricsSpec,
    all_cells: Iterable[Cell],
    definition_id: str,
    window_id: str,
    *,
    now: datetime,
    count: int,
    where: ScopeFilter | None = None,
) -> list[WindowValue]:
    """The last ``count`` windows, newest first, each ``hop`` apart."""
    materialized = list(all_cells)
    return [
        read_window(spec, materialized, definition_id, window_id, now=now, where=where, back=i) for i in range(count)
    ]


def scopes(spec: MetricsSpec, all_cells: Iterable[Cell], definition_id: str, dimension: str) -> list[str]:
    """The values one dimension takes in the stored cells of a definition (for listings and roll-ups)."""
    definition = spec.definition(definition_id)
    index = definition.dimensions.index(dimension)
    return sorted({c.key.scope[index] for c in all_cells if c.key.definition == definition_id})


def stats_between(
    spec: MetricsSpec,
    all_cells: Iterable[Cell],
    definition_id: str,
    start_ms: int,
    end_ms: int,
    where: ScopeFilter | None = None,
) -> tuple[Sufficient, dict[str, int]]:
    """One definition merged over the cells whose bucket lies wholly in [start, end) and whose scope matches
    ``where``, with its detractors' driver counts. A fine bucket folded into a coarse one already is taken once
    (through the coarse one when that lies inside, else by itself while it is still stored)."""
    definition = spec.definition(definition_id)
    filt = dict(where or {})
    inside = [
        c for c in all_cells
        if c.key.definition == definition_id and start_ms <= c.key.bucket and c.key.bucket + c.key.grain <= end_ms
        and _matches(definition, c.key.scope, filt)
    ]  # fmt: skip
    coarsest = max((c.key.grain for c in inside), default=0)
    absorbed = {
        (c.key.partition, c.key.scope, b): o
        for c in inside if c.key.grain == coarsest
        for b, o in c.value.absorbed.items()
    }  # fmt: skip
    stats = Sufficient()
    drivers: dict[str, int] = {}
    for cell in inside:
        key = cell.key
        taken = absorbed.get((key.partition, key.scope, key.bucket)) if key.grain < coarsest else None
        if taken is not None and cell.value.offset <= taken:
            continue
        stats.merge(cell.value.stats)
        for driver, count in cell.value.drivers.items():
            drivers[driver] = drivers.get(driver, 0) + count
    return stats, drivers
