"""One queue's plan: its history from the metric history index, the forecast, and the staffing it needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from cxstream.domain.base import to_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.workforce.erlang import Model, ServiceTarget
from cxstream.domain.workforce.forecast import WEEK_MS, Forecast, forecast, observed
from cxstream.domain.workforce.plan import IntervalStaffing, staffing_plan
from cxstream.domain.workforce.spec import Queue, Workforce


@dataclass(frozen=True)
class QueuePlan:
    queue: Queue
    target: ServiceTarget
    patience_s: float | None
    forecast: Forecast
    staffing: tuple[IntervalStaffing, ...]

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
    grid = observed(index, workforce.arrivals, workforce.handle_time, period_ms, workforce.interval_ms, queue.where,
                    max(through_ms, as_of), since)  # fmt: skip
    result = forecast(grid, first_ms, days, weeks=settings.weeks, confidence=settings.confidence,
                      backtest_days=settings.backtest_days, as_of_ms=as_of)  # fmt: skip
    target, patience = workforce.service_target(queue), workforce.patience_s(queue)
    return QueuePlan(queue, target, patience, result, staffing_plan(result, target, patience))
