"""The statistics every number carries, checked against scipy."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sp

from cxstream.domain.metrics.stats import (
    Sufficient,
    ces_easy,
    ces_mean,
    csat,
    hit_rate,
    mean_value,
    nps,
    t_quantile,
    wilson,
    z_value,
)

CONF = 0.95


@settings(max_examples=200, deadline=None)
@given(df=st.integers(1, 5000), p=st.floats(0.5005, 0.9995))
def test_t_quantile_matches_scipy(df: int, p: float) -> None:
    assert t_quantile(p, df) == pytest.approx(sp.t.ppf(p, df), rel=1e-9, abs=1e-9)
    assert t_quantile(1 - p, df) == pytest.approx(sp.t.ppf(1 - p, df), rel=1e-9, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 20_000), data=st.data(), confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_matches_scipy(n: int, data: st.DataObject, confidence: float) -> None:
    hits = data.draw(st.integers(0, n))
    expected = sp.binomtest(hits, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = wilson(hits, n, confidence)
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_z_value() -> None:
    assert z_value(0.95) == pytest.approx(sp.norm.ppf(0.975), rel=1e-12)


scores_1_5 = st.lists(st.integers(1, 5), min_size=1, max_size=400)
scores_1_7 = st.lists(st.integers(1, 7), min_size=2, max_size=400)
scores_0_10 = st.lists(st.integers(0, 10), min_size=1, max_size=400)


def histogram(scores: list[int]) -> Sufficient:
    stats = Sufficient()
    for score in scores:
        stats.add_score(score)
    return stats


@settings(max_examples=100, deadline=None)
@given(scores=scores_1_5)
def test_csat_is_the_top_two_box_share(scores: list[int]) -> None:
    estimate = csat(histogram(scores), confidence=CONF, min_n=1)
    hits = sum(1 for s in scores if s >= 4)
    assert estimate.n == len(scores)
    assert estimate.value == pytest.approx(100 * hits / len(scores), abs=1e-9)
    ci = sp.binomtest(hits, len(scores)).proportion_ci(confidence_level=CONF, method="wilson")
    assert (estimate.low, estimate.high) == pytest.approx((100 * ci.low, 100 * ci.high), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(scores=scores_1_7)
def test_ces_mean_has_a_t_interval(scores: list[int]) -> None:
    estimate = ces_mean(histogram(scores), confidence=CONF, min_n=1)
    mean = sum(scores) / len(scores)
    assert estimate.value == pytest.approx(mean, abs=1e-9)
    sem = sp.sem(scores) if len(set(scores)) > 1 else 0.0
    if sem > 0:
        low, high = sp.t.interval(CONF, len(scores) - 1, loc=mean, scale=sem)
    else:
        low = high = mean
    assert (estimate.low, estimate.high) == pytest.approx((low, high), abs=1e-9)
    easy = ces_easy(histogram(scores), confidence=CONF, min_n=1)
    assert easy.value == pytest.approx(100 * sum(1 for s in scores if s >= 5) / len(scores), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(scores=scores_0_10)
def test_nps_and_its_margin(scores: list[int]) -> None:
    n = len(scores)
    p = sum(1 for s in scores if s >= 9) / n
    d = sum(1 for s in scores if s <= 6) / n
    estimate = nps(histogram(scores), confidence=CONF, min_n=1)
    assert estimate.value == pytest.approx(100 * (p - d), abs=1e-9)
    # the margin is the z-interval of the mean of +1 / 0 / -1 per response (population variance)
    values = [1 if s >= 9 else -1 if s <= 6 else 0 for s in scores]
    margin = 100 * sp.norm.ppf(0.975) * math.sqrt(statistics.pvariance(values) / n) if n > 1 else 0.0
    assert estimate.value - estimate.low == pytest.approx(min(margin, estimate.value + 100), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=300), sla=st.floats(0, 1e6))
def test_durations_mean_and_sla_compliance(values: list[float], sla: float) -> None:
    stats = Sufficient()
    for v in values:
        stats.add_value(v, hit=v <= sla)
    mean = mean_value(stats, confidence=CONF, min_n=1)
    assert mean.value == pytest.approx(sum(values) / len(values), rel=1e-9, abs=1e-9)
    std = math.sqrt(max(0.0, sp.tvar(values))) if len(set(values)) > 1 else 0.0
    half = sp.t.ppf(0.975, len(values) - 1) * std / math.sqrt(len(values))
    assert mean.high - mean.value == pytest.approx(half, rel=1e-6, abs=1e-6)
    compliance = hit_rate(stats, confidence=CONF, min_n=1)
    assert compliance.value == pytest.approx(100 * sum(v <= sla for v in values) / len(values))


@given(parts=st.lists(st.lists(st.integers(0, 10), max_size=30), min_size=1, max_size=8))
def test_merging_is_exact_and_survives_json(parts: list[list[int]]) -> None:
    merged = Sufficient.merged(Sufficient.from_json(histogram(p).to_json()) for p in parts)
    assert merged.hist == histogram([s for p in parts for s in p]).hist


@given(parts=st.lists(st.lists(st.floats(0, 1e7, allow_nan=False), max_size=30), min_size=1, max_size=8))
def test_merged_moments_equal_the_moments_of_all_values(parts: list[list[float]]) -> None:
    def moments(values: list[float]) -> Sufficient:
        stats = Sufficient()
        for v in values:
            stats.add_value(v, hit=v < 1e6)
        return stats

    merged = Sufficient.merged(Sufficient.from_json(moments(p).to_json()) for p in parts)
    flat = [v for p in parts for v in p]
    assert merged.n == len(flat) and merged.hits == sum(v < 1e6 for v in flat)
    if flat:
        assert merged.mean == pytest.approx(statistics.fmean(flat), rel=1e-12, abs=1e-9)
        assert merged.m2 == pytest.approx(statistics.pvariance(flat) * len(flat), rel=1e-9, abs=1e-6)


def test_below_the_minimum_sample_there_is_no_number() -> None:
    estimate = csat(histogram([5, 5, 4]), confidence=CONF, min_n=30)
    assert estimate.insufficient and estimate.n == 3
    assert estimate.describe() == "insufficient sample (n=3, minimum 30)"
    shown = csat(histogram([5] * 20 + [1] * 20), confidence=CONF, min_n=30).describe()
    assert shown == "50.0% (n=40, 95% CI 35.2 to 64.8%)"


def test_hits_without_trials_survive_the_table_encoding() -> None:
    reopens = Sufficient(hits=2)  # reopened tickets in a cell where none was solved
    assert Sufficient.from_json(reopens.to_json()).hits == 2
