"""One queue's plan: its history from the metric history index, the forecast, and the staffing it needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from cxstream.domain.base import to_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Estimate, Sufficient
from cxstream.domain.metrics.windows import estimate_of
from cxstream.domain.workforce.erlang import Model, ServiceTarget
from cxstream.domain.workforce.forecast import WEEK_MS, YEAR_MS, Forecast, forecast, observed
from cxstream.domain.workforce.plan import IntervalStaffing, staffing_plan
from cxstream.domain.workforce.spec import Queue, Workforce


@dataclass(frozen=True)
class TierHandle:
    """How long one complexity tier's contacts really take in a queue over the forecast's learning weeks."""

    tier: str
    display: str
    handle_time: Estimate  # minutes per solved ticket, with n and interval
    share: float  # of the queue's solved tickets (n of the tier / n of all)


@dataclass(frozen=True)
class QueuePlan:
    queue: Queue
    target: ServiceTarget
    patience_s: float | None
    forecast: Forecast
    staffing: tuple[IntervalStaffing, ...]
    tiers: tuple[TierHandle, ...] = ()

    @property
    def model(self) -> Model:
        return Model.ERLANG_C if self.patience_s is None else Model.ERLANG_A


def queue_plan(
    metrics: MetricsSpec, workforce: Workforce, queue: Queue, index: HistoryIndex, first: date, days: int
) -> QueuePlan:
    """The forecast and staffing of ``days`` days from ``first`` (UTC days), learnt from the history the index
    holds up to where every live partition has closed it."""
    if not 1 <= days <= workforce.forecast.horizon_days:
        raise ValueError(f"days is between 1 and {workforce.forecast.horizon_days}")
    settings = workforce.forecast
    period_ms = metrics.definition(workforce.arrivals).history.interval_ms
    assert period_ms is not None  # checked at start (topology)
    first_ms = to_ms(datetime.combine(first, time(), UTC))
    through = index.coverage().through_ms
    through_ms = through if through is not None else first_ms
    as_of = min(through_ms, first_ms)  # a day is forecast with what was known at its midnight (or now)
    since = as_of - as_of % DAY_MS - settings.backtest_days * DAY_MS - settings.weeks * WEEK_MS
    daily_since = since - YEAR_MS - WEEK_MS if settings.yearly else None
    grid = observed(index, workforce.arrivals, workforce.handle_time, period_ms, workforce.interval_ms, queue.where,
                    max(through_ms, as_of), since, daily_since)  # fmt: skip
    result = forecast(grid, first_ms, days, weeks=settings.weeks, confidence=settings.confidence,
                      backtest_days=settings.backtest_days, as_of_ms=as_of)  # fmt: skip
    target, patience = workforce.service_target(queue), workforce.patience_s(queue)
    tiers = tier_handles(metrics, workforce, queue, index, as_of - settings.weeks * WEEK_MS, as_of)
    return QueuePlan(queue, target, patience, result, staffing_plan(result, target, patience), tiers)


def tier_handles(
    metrics: MetricsSpec, workforce: Workforce, queue: Queue, index: HistoryIndex, start_ms: int, end_ms: int
) -> tuple[TierHandle, ...]:
    """Each declared tier's handle time in the queue between ``start_ms`` and ``end_ms`` (closed intervals of
    the handle-time history), in the declared order; the queue's pooled handle time is their n-weighted mean,
    so a shift towards complex contacts raises the workload at the same volume."""
    definition = metrics.definition(workforce.handle_time)
    if "tier" not in definition.dimensions or not workforce.tiers:
        return ()
    period_ms = definition.history.interval_ms
    assert period_ms is not None
    sums: dict[str, Sufficient] = {}
    for fact in index.facts(workforce.handle_time, period_ms, start_ms, end_ms):
        if fact.within(queue.where):
            sums.setdefault(fact.value_of("tier"), Sufficient()).merge(fact.stats)
    total = sum(s.n for s in sums.values())
    displays: dict[str, str] = {}
    for tier in workforce.tiers:
        displays.setdefault(tier.id, tier.display)
    return tuple(
        TierHandle(
            tier,
            display,
            estimate_of(definition, sums.get(tier, Sufficient()), metrics),
            sums[tier].n / total if tier in sums and total else 0.0,
        )
        for tier, display in displays.items()
    )
