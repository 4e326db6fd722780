"""Arrivals and workload per queue and interval for the days ahead, learnt from metric history.

Each interval's arrivals are forecast from the same interval of the week on the previous weeks (the weekday
and intraday profile at once): the point is their mean; the prediction interval is the negative-binomial
(Poisson when the weeks vary less than Poisson noise) interval with that mean and the weeks' variance, widened
for the mean's own error, ``v = max(mean, s^2) * (1 + 1/weeks)``. Handle time is the queue's pooled mean over
the same weeks (per interval of the week when that holds enough solved tickets). Workload, in Erlangs, is
arrivals x handle time / interval: a longer handle time raises it even when the volume does not.

The yearly pattern, when a year of daily history exists: the weekly profile knows the last weeks, not that the
same week last year ran higher or lower than the weeks before it (December peaks, summer lulls). Each forecast
day is scaled by last year's ratio: the 7 days from the same weekday 52 weeks earlier against the daily mean of
the ``weeks`` weeks before the same point last year (clamped to 0.25-4); the factor and its n (days
compared) are shown. Without a year of daily history the factor is left out and says so.

Accuracy is measured by forecasting each of the last complete days from what was known at its midnight and
comparing with what arrived: WAPE per interval (sum of |actual - forecast| over the sum of actuals) and per day,
and the share of actuals inside the prediction interval (it should be near its confidence).

Pure: the history comes in as an :class:`Observed` grid (see :func:`observed`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from cxstream.domain.base import from_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.metrics.stats import Sufficient

WEEK_MS = 7 * DAY_MS
#: 52 weeks: the same weekday a year earlier.
YEAR_MS = 52 * WEEK_MS
YEARLY_CLAMP = (0.25, 4.0)
#: An interval of the week needs this many solved tickets for its own handle time; fewer: the queue's pooled one.
MIN_HANDLE_N = 20
#: A forecast needs at least this many past weeks of the same interval.
MIN_WEEKS = 2


@dataclass(frozen=True)
class Observed:
    """A queue's history on the staffing grid: arrivals and handle-time statistics (minutes) per interval start.
    Intervals in [first_ms, through_ms) are complete: one without an entry had no contacts."""

    step_ms: int
    first_ms: int
    through_ms: int
    arrivals: Mapping[int, float] = field(default_factory=dict)
    handle: Mapping[int, Sufficient] = field(default_factory=dict)
    daily: Mapping[int, float] = field(default_factory=dict)  # arrivals per day (midnight), from daily history
    daily_first_ms: int | None = None  # the first day daily history holds (any scope); None: none read

    def known(self, start_ms: int, before_ms: int | None = None) -> bool:
        end = self.through_ms if before_ms is None else min(self.through_ms, before_ms)
        return self.first_ms <= start_ms and start_ms + self.step_ms <= end

    def count(self, start_ms: int) -> float:
        return self.arrivals.get(start_ms, 0.0)


@dataclass(frozen=True)
class IntervalForecast:
    start: datetime
    end: datetime
    arrivals: float | None  # None: fewer than MIN_WEEKS past weeks of this interval
    low: float | None
    high: float | None
    weeks: int  # past weeks of the same interval it learnt from (its n)
    handle_s: float | None
    handle_n: int  # solved tickets the handle time is the mean of
    workload: float | None  # Erlangs: arrivals x handle time / interval
    actual: float | None = None  # what arrived, for intervals that have passed
    yearly: float | None = None  # the yearly factor applied (None: no year of daily history)


@dataclass(frozen=True)
class Accuracy:
    days: int
    intervals: int
    wape_interval: float | None  # None: nothing arrived in the backtest days
    wape_day: float | None
    inside: float | None  # share of actuals inside the prediction interval


@dataclass(frozen=True)
class Yearly:
    """Last year's same week against the weeks before it: what the weekly profile is scaled by."""

    factor: float
    days: int  # daily counts compared (its n)
    week_mean: float  # arrivals a day in last year's same week
    base_mean: float  # arrivals a day in the weeks before it


def yearly_factor(history: Observed, day_ms: int, as_of_ms: int, weeks: int) -> Yearly | None:
    """The factor for the forecast of the day at ``day_ms`` made at ``as_of_ms``; None without a year of daily
    history before the weeks it compares, or when last year had no contacts then."""
    if history.daily_first_ms is None:
        return None
    midnight = as_of_ms - as_of_ms % DAY_MS
    base_end = midnight - YEAR_MS
    base_start = base_end - weeks * WEEK_MS
    if history.daily_first_ms > base_start:
        return None
    centre = day_ms - day_ms % DAY_MS - YEAR_MS  # the same weekday 52 weeks earlier, and the 6 days after it
    week = [history.daily.get(centre + k * DAY_MS, 0.0) for k in range(7)]
    base = [history.daily.get(d, 0.0) for d in range(base_start, base_end, DAY_MS)]
    base_mean, week_mean = sum(base) / len(base), sum(week) / len(week)
    if base_mean <= 0:
        return None
    low, high = YEARLY_CLAMP
    return Yearly(min(high, max(low, week_mean / base_mean)), len(base) + len(week), week_mean, base_mean)


@dataclass(frozen=True)
class Forecast:
    step_ms: int
    confidence: float
    intervals: tuple[IntervalForecast, ...]
    accuracy: Accuracy
    history_days: int  # complete days of history it had
    through: datetime | None  # history complete up to here
    yearly: Yearly | None = None  # the first forecast day's yearly factor
    yearly_note: str | None = None  # why there is none

    @property
    def sufficient(self) -> bool:
        return any(i.arrivals is not None for i in self.intervals)


def observed(
    index: HistoryIndex,
    arrivals_definition: str,
    handle_definition: str,
    period_ms: int,
    step_ms: int,
    where: Mapping[str, str],
    through_ms: int | None,
    since_ms: int,
    daily_since_ms: int | None = None,
) -> Observed:
    """The grid of one queue (``where``: dimension values) from ``since_ms`` on: interval facts summed into
    ``step_ms`` intervals. History starts at the first day holding any arrivals fact (of any scope). With
    ``daily_since_ms``, also the queue's arrivals per day from daily history (for the yearly pattern)."""
    arrivals: dict[int, float] = {}
    handle: dict[int, Sufficient] = {}
    first = math.inf
    end = through_ms if through_ms is not None else since_ms
    for fact in index.facts(arrivals_definition, period_ms, since_ms - step_ms, end):
        first = min(first, fact.key.start_ms)
        if fact.within(where):
            start = fact.key.start_ms - fact.key.start_ms % step_ms
            arrivals[start] = arrivals.get(start, 0.0) + fact.stats.n
    for fact in index.facts(handle_definition, period_ms, since_ms - step_ms, end):
        if fact.within(where):
            start = fact.key.start_ms - fact.key.start_ms % step_ms
            handle.setdefault(start, Sufficient()).merge(fact.stats)
    first_ms = int(first - first % DAY_MS) if first != math.inf else end
    daily: dict[int, float] = {}
    daily_first: float = math.inf
    if daily_since_ms is not None:
        for fact in index.facts(arrivals_definition, DAY_MS, daily_since_ms, end):
            daily_first = min(daily_first, fact.key.start_ms)
            if fact.within(where):
                daily[fact.key.start_ms] = daily.get(fact.key.start_ms, 0.0) + fact.stats.n
    return Observed(step_ms, max(first_ms, since_ms), end, arrivals, handle, daily,
                    int(daily_first) if daily_first != math.inf else None)  # fmt: skip


def forecast(
    history: Observed,
    first_ms: int,
    days: int,
    *,
    weeks: int,
    confidence: float,
    backtest_days: int,
    as_of_ms: int | None = None,
) -> Forecast:
    """Intervals of ``days`` days from ``first_ms`` (a midnight) as forecast with what was known at ``as_of_ms``
    (default: all the history), with their actuals where known, and the accuracy on the last complete days
    before ``as_of_ms``."""
    step = history.step_ms
    as_of = history.through_ms if as_of_ms is None else min(as_of_ms, history.through_ms)
    pooled = _pooled_handle(history, as_of, weeks)
    out = []
    factors = {d: yearly_factor(history, d, as_of, weeks) for d in range(first_ms, first_ms + days * DAY_MS, DAY_MS)}
    for start in range(first_ms, first_ms + days * DAY_MS, step):
        out.append(_one(history, start, weeks, confidence, as_of, pooled, factors[start - start % DAY_MS]))
    complete_days = max(0, (as_of - history.first_ms) // DAY_MS)
    return Forecast(
        step_ms=step,
        confidence=confidence,
        intervals=tuple(out),
        accuracy=backtest(history, weeks=weeks, confidence=confidence, days=backtest_days, before_ms=as_of),
        history_days=int(complete_days),
        through=from_ms(as_of) if complete_days else None,
        yearly=factors[first_ms],
        yearly_note=None if factors[first_ms] else _yearly_note(history, as_of, weeks),
    )


def _yearly_note(history: Observed, as_of_ms: int, weeks: int) -> str:
    if history.daily_first_ms is None:
        return "no daily history read"
    needed = as_of_ms - as_of_ms % DAY_MS - YEAR_MS - weeks * WEEK_MS
    have = max(0, (as_of_ms - history.daily_first_ms) // DAY_MS)
    if history.daily_first_ms > needed:
        return f"needs a year and {weeks} weeks of daily history; has {have} days"
    return "no contacts last year in the weeks it compares"


def _one(
    history: Observed,
    start: int,
    weeks: int,
    confidence: float,
    known_before: int,
    pooled: Sufficient,
    yearly: Yearly | None = None,
) -> IntervalForecast:
    step = history.step_ms
    past = [start - k * WEEK_MS for k in range(1, weeks + 1)]
    factor = yearly.factor if yearly is not None else 1.0
    values = [history.count(t) * factor for t in past if history.known(t, known_before)]
    handle = Sufficient()
    for t in past:
        if history.known(t, known_before) and t in history.handle:
            handle.merge(history.handle[t])
    if handle.n < MIN_HANDLE_N:
        handle = pooled
    handle_s = handle.mean * 60 if handle.n else None
    actual = history.count(start) if history.known(start) else None
    if len(values) < MIN_WEEKS:
        return IntervalForecast(from_ms(start), from_ms(start + step), None, None, None, len(values), handle_s,
                                handle.n, None, actual)  # fmt: skip
    mean = sum(values) / len(values)
    low, high = prediction_interval(mean, values, confidence)
    workload = mean * handle_s / (step / 1000) if handle_s is not None else None
    return IntervalForecast(from_ms(start), from_ms(start + step), mean, low, high, len(values), handle_s, handle.n,
                            workload, actual, yearly.factor if yearly else None)  # fmt: skip


def prediction_interval(mean: float, values: list[float], confidence: float) -> tuple[float, float]:
    """Where the next count falls with probability ``confidence``: negative binomial with the weeks' variance
    (at least Poisson's), widened by 1 + 1/weeks for the error of the mean."""
    if mean <= 0:
        return 0.0, 0.0
    n = len(values)
    sample_var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else mean
    variance = max(mean, sample_var) * (1 + 1 / n)
    return _count_interval(mean, variance, confidence)


@lru_cache(maxsize=65_536)
def _count_interval(mean: float, variance: float, confidence: float) -> tuple[float, float]:
    """Poisson (variance at most the mean) or negative-binomial quantiles; counts repeat, so answers are kept."""
    from scipy import stats

    tail = (1 - confidence) / 2
    if variance <= mean * (1 + 1e-9):
        low, high = stats.poisson.ppf([tail, 1 - tail], mean)
    else:
        size = mean * mean / (variance - mean)
        low, high = stats.nbinom.ppf([tail, 1 - tail], size, size / (size + mean))
    return float(low), float(high)


def _pooled_handle(history: Observed, before: int, weeks: int) -> Sufficient:
    pooled = Sufficient()
    for start, stats in history.handle.items():
        if before - weeks * WEEK_MS <= start and history.known(start, before):
            pooled.merge(stats)
    return pooled


def backtest(history: Observed, *, weeks: int, confidence: float, days: int, before_ms: int | None = None) -> Accuracy:
    """Each of the last ``days`` complete days (before ``before_ms``) forecast from what was known at its
    midnight, against what came."""
    step = history.step_ms
    end = history.through_ms if before_ms is None else min(before_ms, history.through_ms)
    last_day = end - end % DAY_MS  # midnight after the last complete day
    abs_error = total = 0.0
    day_error = day_total = 0.0
    inside = counted = used_days = 0
    for d in range(days):
        midnight = last_day - (d + 1) * DAY_MS
        if midnight < history.first_ms:
            break
        pooled = _pooled_handle(history, midnight, weeks)
        f_day = a_day = 0.0
        usable = False
        for start in range(midnight, midnight + DAY_MS, step):
            one = _one(
                history, start, weeks, confidence, midnight, pooled, yearly_factor(history, start, midnight, weeks)
            )
            if one.arrivals is None or one.actual is None:
                continue
            usable = True
            abs_error += abs(one.actual - one.arrivals)
            total += one.actual
            f_day += one.arrivals
            a_day += one.actual
            counted += 1
            assert one.low is not None and one.high is not None
            inside += int(one.low <= one.actual <= one.high)
        if usable:
            used_days += 1
            day_error += abs(a_day - f_day)
            day_total += a_day
    return Accuracy(
        days=used_days,
        intervals=counted,
        wape_interval=abs_error / total if total else None,
        wape_day=day_error / day_total if day_total else None,
        inside=inside / counted if counted else None,
    )
