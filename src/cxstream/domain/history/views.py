"""Weeks, months, quarters and years merged from closed days, for any subset of dimensions.

A point adds the statistics of every fact (every origin, every finest scope matching the filter) of its days:
the statistics are sums, so the merge is exact, and the estimate is computed once from the sums with its n and
interval, as a live window's. ``from`` and ``to`` are widened to whole periods (weeks start on Monday, as ISO
weeks and the live 7-day window do; months, quarters and years are calendar ones, in UTC).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from cxstream.domain.base import from_ms, to_ms
from cxstream.domain.history.facts import is_live
from cxstream.domain.history.index import Coverage, HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS, Indicator, MetricsSpec
from cxstream.domain.metrics.stats import Estimate, Sufficient, ces_easy, hit_rate
from cxstream.domain.metrics.windows import estimate_of


class Grain(StrEnum):
    INTERVAL = "interval"  # the definition's declared 15- or 30-minute interval
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def period_start(grain: Grain, day: date) -> date:
    if grain is Grain.WEEK:
        return day - timedelta(days=day.weekday())
    if grain is Grain.MONTH:
        return day.replace(day=1)
    if grain is Grain.QUARTER:
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if grain is Grain.YEAR:
        return date(day.year, 1, 1)
    return day


def next_period(grain: Grain, start: date) -> date:
    if grain is Grain.WEEK:
        return start + timedelta(days=7)
    if grain in (Grain.MONTH, Grain.QUARTER):
        months = 1 if grain is Grain.MONTH else 3
        month = start.month - 1 + months
        return date(start.year + month // 12, month % 12 + 1, 1)
    if grain is Grain.YEAR:
        return date(start.year + 1, 1, 1)
    return start + timedelta(days=1)


@dataclass(frozen=True)
class HistoryPoint:
    """One period: the estimate with n and interval, SLA compliance for durations, the share of easy answers
    for CES, the top drivers among detractors, how many of its days hold data, and whether every live
    partition has closed the whole period (``partial`` when not)."""

    start: datetime
    end: datetime
    estimate: Estimate
    sla: Estimate | None
    easy: Estimate | None
    top_drivers: tuple[tuple[str, int], ...]
    days_with_data: int
    partial: bool
    imported: bool  # some of its statistics come from backfilled files
    stats: Sufficient


@dataclass(frozen=True)
class HistoryView:
    definition: str
    indicator: Indicator
    grain: Grain
    period_ms: int  # the stored period the points are merged from (a day, or the interval)
    scope: Mapping[str, str]
    start: datetime
    end: datetime
    points: tuple[HistoryPoint, ...]
    coverage: Coverage
    retention_start: datetime  # older periods are not kept


def history_view(
    spec: MetricsSpec,
    index: HistoryIndex,
    definition_id: str,
    grain: Grain,
    first: date,
    last: date,
    *,
    now: datetime,
    where: Mapping[str, str] | None = None,
    top: int = 5,
) -> HistoryView:
    """Points of ``grain`` covering the days ``first`` to ``last`` (inclusive), oldest first."""
    definition = spec.definition(definition_id)
    filt = dict(where or {})
    for name in filt:
        if name not in definition.dimensions:
            raise KeyError(f"{definition_id} has no dimension {name!r} (it keeps {', '.join(definition.dimensions)})")
    if last < first:
        raise ValueError(f"to ({last}) is before from ({first})")
    if grain is Grain.INTERVAL:
        if definition.history.interval_ms is None:
            raise ValueError(f"{definition_id} keeps no intervals (declare history.interval: 15m or 30m)")
        period_ms = definition.history.interval_ms
        bounds = []
        at = to_ms(_midnight(first))
        stop = to_ms(_midnight(last + timedelta(days=1)))
        while at < stop:
            bounds.append((at, at + period_ms))
            at += period_ms
    else:
        period_ms = DAY_MS
        bounds = []
        day = period_start(grain, first)
        while day <= last:
            following = next_period(grain, day)
            bounds.append((to_ms(_midnight(day)), to_ms(_midnight(following))))
            day = following
    if len(bounds) > 5000:
        raise ValueError(f"{len(bounds)} points asked for: narrow the range or take a coarser grain")
    retention_start = to_ms(now) - definition.history.retention_of(period_ms)
    lo, hi = bounds[0][0], bounds[-1][1]
    coverage = index.coverage()
    positions = {start: i for i, (start, _) in enumerate(bounds)}
    sums = [Sufficient() for _ in bounds]
    drivers: list[dict[str, int]] = [{} for _ in bounds]
    days: list[set[int]] = [set() for _ in bounds]
    imported = [False for _ in bounds]
    starts = [b[0] for b in bounds]
    for fact in index.facts(definition_id, period_ms, max(lo, retention_start - period_ms), hi):
        if fact.end_ms <= retention_start:
            continue
        if filt and not fact.within(filt):
            continue
        i = positions.get(fact.key.start_ms)
        if i is None:  # a day inside a longer period: find the period holding it
            i = bisect_right(starts, fact.key.start_ms) - 1
        sums[i].merge(fact.stats)
        for driver, count in fact.drivers.items():
            drivers[i][driver] = drivers[i].get(driver, 0) + count
        days[i].add(fact.key.start_ms)
        imported[i] = imported[i] or not is_live(fact.key.origin)
    min_n = definition.min_n or spec.min_n
    points = []
    for i, (start, end) in enumerate(bounds):
        stats = sums[i]
        points.append(
            HistoryPoint(
                start=from_ms(start),
                end=from_ms(end),
                estimate=estimate_of(definition, stats, spec),
                sla=hit_rate(stats, confidence=spec.confidence, min_n=min_n) if definition.sla is not None else None,
                easy=(
                    ces_easy(stats, confidence=spec.confidence, min_n=min_n)
                    if definition.indicator is Indicator.CES
                    else None
                ),
                top_drivers=tuple(sorted(drivers[i].items(), key=lambda kv: (-kv[1], kv[0]))[:top]),
                days_with_data=len(days[i]) if period_ms == DAY_MS else int(bool(days[i])),
                partial=coverage.through_ms is None or end > coverage.through_ms,
                imported=imported[i],
                stats=stats,
            )
        )
    return HistoryView(
        definition=definition_id,
        indicator=definition.indicator,
        grain=grain,
        period_ms=period_ms,
        scope=filt,
        start=from_ms(lo),
        end=from_ms(hi),
        points=tuple(points),
        coverage=coverage,
        retention_start=from_ms(retention_start),
    )
