"""The workforce forecast on seeded synthetic traffic with a known weekly and intraday profile."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from cxstream.domain.history.facts import FactKey, HistoryFact
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.metrics.stats import Sufficient
from cxstream.domain.workforce.erlang import ServiceTarget
from cxstream.domain.workforce.forecast import WEEK_MS, Observed, forecast, observed, prediction_interval
from cxstream.domain.workforce.plan import staffing_plan

STEP = 30 * 60_000
MONDAY = 1_764_547_200_000  # 2025-12-01 00:00 UTC, a Monday
WEEKS = 8


def rate(start_ms: int) -> float:
    """Known truth: a business-day bump (peak 40 per 30 minutes), half at weekends, 1 at night."""
    hour = (start_ms % DAY_MS) / 3_600_000
    weekday = (start_ms // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday
    day = 0.5 if weekday >= 5 else 1.0
    bump = 40 * math.sin(math.pi * (hour - 8) / 10) if 8 <= hour < 18 else 0.0
    return 1.0 + day * bump


def synthetic(weeks: int, seed: int, handle_minutes: float = 6.0) -> Observed:
    rng = np.random.default_rng(seed)
    arrivals: dict[int, float] = {}
    handle: dict[int, Sufficient] = {}
    end = MONDAY + weeks * WEEK_MS
    for start in range(MONDAY, end, STEP):
        count = int(rng.poisson(rate(start)))
        if count:
            arrivals[start] = float(count)
            stats = Sufficient()
            for minutes in rng.lognormal(math.log(handle_minutes), 0.4, size=count):
                stats.add_value(float(minutes))
            handle[start] = stats
    return Observed(STEP, MONDAY, end, arrivals, handle)


def test_the_forecast_recovers_the_known_profile_with_honest_intervals() -> None:
    history = synthetic(WEEKS, seed=1)
    result = forecast(history, history.through_ms, 7, weeks=WEEKS, confidence=0.8, backtest_days=7)
    assert len(result.intervals) == 7 * 48 and result.history_days == 56
    errors, inside = [], 0
    for one in result.intervals:
        truth = rate(int(one.start.timestamp() * 1000))
        assert one.arrivals is not None and one.low is not None and one.high is not None and one.weeks == WEEKS
        errors.append(one.arrivals - truth)
        inside += int(one.low <= truth <= one.high)
    assert abs(float(np.mean(errors))) < 0.5  # unbiased
    # the mean of 8 Poisson weeks: error sd sqrt(rate/8); at the peak (40) about 2.2
    assert float(np.sqrt(np.mean(np.square(errors)))) < 2.0
    assert inside / len(result.intervals) > 0.9  # the truth is inside far more often than a new draw


def test_prediction_intervals_cover_new_draws_near_their_confidence() -> None:
    history = synthetic(WEEKS + 1, seed=2)
    cut = MONDAY + WEEKS * WEEK_MS  # forecast the ninth week from the first eight, compare with its draws
    truncated = Observed(STEP, MONDAY, cut, history.arrivals, history.handle)
    result = forecast(truncated, cut, 7, weeks=WEEKS, confidence=0.8, backtest_days=1)
    inside = sum(
        1
        for one in result.intervals
        if one.low is not None
        and one.high is not None
        and one.low <= history.count(int(one.start.timestamp() * 1000)) <= one.high
    )
    # discrete intervals cover at least their level; 336 intervals: a binomial band around 0.8-0.95
    assert 0.78 <= inside / len(result.intervals) <= 0.97


def test_backtest_wape_matches_poisson_noise() -> None:
    result = forecast(synthetic(WEEKS + 1, seed=3), MONDAY + (WEEKS + 1) * WEEK_MS, 1, weeks=WEEKS, confidence=0.8,
                      backtest_days=7)  # fmt: skip
    accuracy = result.accuracy
    assert accuracy.days == 7 and accuracy.intervals == 7 * 48
    assert accuracy.wape_interval is not None and 0.08 < accuracy.wape_interval < 0.30
    assert accuracy.wape_day is not None and accuracy.wape_day < 0.10  # daily totals are far steadier
    assert accuracy.inside is not None and 0.75 <= accuracy.inside <= 0.97


def test_too_little_history_says_so() -> None:
    history = synthetic(1, seed=4)
    result = forecast(history, history.through_ms, 1, weeks=WEEKS, confidence=0.8, backtest_days=7)
    assert not result.sufficient
    assert all(one.arrivals is None and one.weeks == 1 for one in result.intervals)
    assert result.accuracy.intervals == 0 and result.accuracy.wape_interval is None


def test_complexity_raises_the_workload_at_the_same_volume() -> None:
    quick, slow = synthetic(WEEKS, seed=5, handle_minutes=5), synthetic(WEEKS, seed=5, handle_minutes=9)
    target = ServiceTarget(20, 0.8, 0.85, 0.3)
    plans = []
    for history in (quick, slow):
        result = forecast(history, history.through_ms, 1, weeks=WEEKS, confidence=0.8, backtest_days=1)
        plans.append(staffing_plan(result, target, None))
    peak = [max(plan, key=lambda s: s.forecast.arrivals or 0) for plan in plans]
    assert peak[0].forecast.arrivals == peak[1].forecast.arrivals  # the same volume
    assert peak[1].forecast.workload > 1.6 * peak[0].forecast.workload  # type: ignore[operator]
    assert peak[1].agents > peak[0].agents  # type: ignore[operator]
    assert all(s.agents_high is None or s.agents is None or s.agents_high >= s.agents for s in plans[1])


def test_prediction_interval_reference() -> None:
    # weeks varying less than Poisson noise, known from many weeks: the Poisson(10) 10 %/90 % quantiles, 6 and 14
    assert prediction_interval(10.0, [10.0] * 2000, 0.8) == (6.0, 14.0)
    # from two weeks the mean itself is uncertain: variance 10 x (1 + 1/2), a wider interval
    assert prediction_interval(10.0, [10.0, 10.0], 0.8) == (5.0, 15.0)
    low, high = prediction_interval(10.0, [2.0, 18.0, 4.0, 16.0], 0.8)
    assert low < 6 and high > 14  # over-dispersed weeks widen it
    assert prediction_interval(0.0, [0.0, 0.0], 0.8) == (0.0, 0.0)


def test_the_grid_is_read_from_interval_facts_of_the_queue() -> None:
    index = HistoryIndex()
    fifteen = 15 * 60_000
    rng = random.Random(6)
    for k in range(8):
        start = MONDAY + k * fifteen
        for region, n in (("emea", rng.randint(1, 9)), ("amer", 50)):
            stats = Sufficient(n=n)
            key = FactKey("contacts", fifteen, start, "p0", ("customer-service", region, "-", "chat"))
            index.apply(key.encode(), HistoryFact(key, ("team", "region", "site", "channel"), stats, version=1))
    grid = observed(index, "contacts", "handle_time", fifteen, STEP, {"region": "emea"}, MONDAY + DAY_MS, MONDAY)
    emea = [f for f in index.all_facts() if f.key.scope[1] == "emea"]
    for start in range(MONDAY, MONDAY + 4 * STEP, STEP):
        want = sum(f.stats.n for f in emea if start <= f.key.start_ms < start + STEP)
        assert grid.count(start) == want
    assert grid.first_ms == MONDAY and grid.known(MONDAY + 10 * STEP) and not grid.known(MONDAY + DAY_MS)


@pytest.mark.parametrize("weeks", [2, 4])
def test_fewer_weeks_of_history_than_declared_still_forecast(weeks: int) -> None:
    history = synthetic(weeks, seed=7)
    result = forecast(history, history.through_ms, 1, weeks=WEEKS, confidence=0.8, backtest_days=1)
    assert all(one.weeks == weeks for one in result.intervals)


def test_the_yearly_pattern_scales_the_weekly_profile_by_last_years_same_week() -> None:
    from dataclasses import replace

    from cxstream.domain.workforce.forecast import YEAR_MS

    history = synthetic(WEEKS, seed=3)
    target = history.through_ms  # the Monday after the eight weeks
    daily = {d: 100.0 for d in range(target - YEAR_MS - 20 * WEEK_MS, target, DAY_MS)}
    for k in range(7):  # last year's same week ran half as high again as the weeks before it
        daily[target - YEAR_MS + k * DAY_MS] = 150.0
    seasonal = replace(history, daily=daily, daily_first_ms=min(daily))
    plain = forecast(history, target, 1, weeks=WEEKS, confidence=0.8, backtest_days=7)
    scaled = forecast(seasonal, target, 1, weeks=WEEKS, confidence=0.8, backtest_days=7)
    assert plain.yearly is None and plain.yearly_note == "no daily history read"
    assert scaled.yearly is not None and scaled.yearly.factor == pytest.approx(1.5) and scaled.yearly.days == 63
    for before, after in zip(plain.intervals, scaled.intervals, strict=True):
        assert before.arrivals is not None and after.arrivals == pytest.approx(1.5 * before.arrivals)
        assert after.yearly == pytest.approx(1.5) and before.yearly is None
    short = replace(seasonal, daily_first_ms=target - 200 * DAY_MS)  # not a year of daily history
    none = forecast(short, target, 1, weeks=WEEKS, confidence=0.8, backtest_days=7)
    assert none.yearly is None and none.yearly_note is not None and "needs a year" in none.yearly_note
