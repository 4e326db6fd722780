"""The sequential test of threshold rules: Siegmund's run lengths against published CUSUM tables, the
threshold a budget demands, false breaches under no change measured by simulation at several volumes, a
breach that resolves by the same evidence it fired on, and a delay computed by hand."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxstream.domain.alerting.cusum import LevelState, arl0, arl1, information, share_llr, threshold_for, worst_arl0
from cxstream.domain.alerting.detection import Hypotheses
from cxstream.domain.alerting.records import Direction
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.alerting.simulate import BUCKETS_PER_DAY, Run, Traffic, delays, draw_bucket, no_change
from cxstream.domain.alerting.thresholds import ThresholdRule
from cxstream.domain.metrics.spec import Indicator

CSAT = ThresholdRule(id="csat.delivery.low", metric="csat.delivery", window="1h", direction=Direction.BELOW,
                     warning=70, critical=55, clear=75)  # fmt: skip


@pytest.mark.parametrize(
    ("h", "two_sided_arl0", "arl_at_one_sigma"),
    [(4.0, 168, 8.38), (5.0, 465, 10.4)],  # Montgomery, Introduction to Statistical Quality Control, k = 0.5
)
def test_run_lengths_match_the_published_cusum_table(h: float, two_sided_arl0: float, arl_at_one_sigma: float) -> None:
    # a one-sided tabular CUSUM of N(0, 1) data with k = 0.5 is the log-likelihood CUSUM of a 1-sigma shift
    # (K = 1); the two-sided in-control run length is half the one-sided one
    assert arl0(h, 1.0) / 2 == pytest.approx(two_sided_arl0, rel=0.01)
    assert arl1(h, 1.0) == pytest.approx(arl_at_one_sigma, rel=0.01)


def test_the_threshold_holds_the_budget_at_every_volume() -> None:
    month = 30 * BUCKETS_PER_DAY
    h = threshold_for(month)
    assert worst_arl0(h) == pytest.approx(month, rel=1e-6)
    assert all(arl0(h, 10 ** (e / 4)) >= month * (1 - 1e-6) for e in range(-16, 17))
    assert threshold_for(3 * month) > h  # a budget shared by three scopes needs more evidence in each
    assert CSAT.h == pytest.approx(threshold_for(month))  # the default budget: 1 per 30 days per scope


def test_a_bucket_weighs_bad_against_good_exactly() -> None:
    # 3 satisfied of 10 at 70 % against 75 %: 3 ln(0.70/0.75) + 7 ln(0.30/0.25)
    assert share_llr(3, 10, 70, 75) == pytest.approx(3 * math.log(0.70 / 0.75) + 7 * math.log(0.30 / 0.25), abs=1e-12)
    assert share_llr(3, 10, 75, 70) == pytest.approx(-share_llr(3, 10, 70, 75), abs=1e-12)
    assert information(20, 70, 75, 72.5 * 27.5) == pytest.approx(20 * 25 / (72.5 * 27.5))


def test_a_level_fires_and_clears_on_the_same_threshold() -> None:
    state = LevelState()
    for step in (3.0, -1.0, 4.5):
        state = state.step(step, 7.0)
    assert not state.breached and state.up == pytest.approx(6.5)
    state = LevelState().step(4.0, 7.0).step(-10.0, 7.0)
    assert state == LevelState()  # evidence never goes below zero: a good stretch is not banked
    state = LevelState().step(7.5, 7.0)
    assert state.breached and state.evidence == 0
    state = state.step(-6.0, 7.0)
    assert state.breached and state.down == pytest.approx(6.0)
    assert not state.step(-1.0, 7.0).breached


def test_the_delay_of_a_hand_computed_case() -> None:
    # exactly 10 answers per bucket, all satisfied before the shift and none after: each bucket after it adds
    # 10 ln(0.30/0.25) = 1.823 to the warning test and 10 ln(0.45/0.40) = 1.178 to the critical one, so with
    # h = 7.451 (1 false breach per 30 days) the warning level is crossed in the 5th bucket (9.12) and the
    # critical one in the 7th (8.24): a breach 25 minutes after the shift
    test = CSAT.test_for({}, Indicator.CSAT)
    assert test.h == pytest.approx(7.4509, abs=1e-4)
    found = delays(test, 100, 0, Traffic(10, fixed_volume=True), runs=3, horizon=50, warm_up=20)
    assert found.buckets == (5, 5, 5) and found.median_minutes == 25.0
    run, rng, fixed = Run(test), random.Random(0), Traffic(10, fixed_volume=True)
    for _ in range(20):
        run.step(draw_bucket(Indicator.CSAT, 100, fixed, rng))
    severities = [run.step(draw_bucket(Indicator.CSAT, 0, fixed, rng)) for _ in range(7)]
    assert severities == [None] * 4 + [Severity.WARNING] * 2 + [Severity.CRITICAL]


@pytest.mark.parametrize("per_bucket", [2.0, 20.0, 200.0])
def test_false_breaches_under_no_change_stay_within_the_budget(per_bucket: float) -> None:
    """A budget of one false breach per day per scope (so that it can be measured in a few seconds), with the
    truth sitting `no_change` on the good side: the simulated count is within what Siegmund's approximation
    predicts at this volume (a 99.9 % Poisson band) and never significantly above the budget."""
    from scipy import stats

    rule = CSAT.model_copy(update={"budget": CSAT.budget.model_copy(update={"per": "1d"})})
    test = rule.test_for({}, Indicator.CSAT)
    buckets = 20_000 if per_bucket < 100 else 4_000
    quiet = no_change(test, 75, Traffic(per_bucket), buckets=buckets, seed=int(per_bucket))
    hyp = test.levels[Severity.WARNING]
    k = information(per_bucket, hyp.bad, hyp.good, 72.5 * 27.5)
    predicted = buckets / arl0(test.h, k)
    low, high = stats.poisson.ppf([0.0005, 0.9995], predicted)
    assert low <= quiet.breaches <= high, (quiet.breaches, predicted)
    assert quiet.breaches <= stats.poisson.ppf(0.999, buckets / BUCKETS_PER_DAY)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.floats(0.45, 0.99), seed=st.integers(0, 10_000))
def test_an_open_breach_resolves_on_a_stationary_stream_between_warning_and_clear(position: float, seed: int) -> None:
    """Truth strictly between the warning level (70) and clear (75), from just below the midpoint up: an
    open breach resolves. (Nearer the level than the midpoint the evidence says "at the level", and the
    breach is expected to stay open about as long as a false breach takes to come: docs/alerting.md.)"""
    test = CSAT.test_for({}, Indicator.CSAT)
    truth = 70 + 5 * position
    run = Run(test)
    run.levels = {Severity.WARNING: LevelState(breached=True), Severity.CRITICAL: LevelState()}
    rng = random.Random(seed)
    for _ in range(60 * BUCKETS_PER_DAY):
        if run.step(draw_bucket(Indicator.CSAT, truth, Traffic(20), rng)) is None:
            return
    raise AssertionError(f"still open after 60 days at {truth:.2f}")


def test_hypotheses_sit_on_the_good_side_of_each_level() -> None:
    assert Hypotheses.of(70, 5, Direction.BELOW) == Hypotheses(70, 75)
    assert Hypotheses.of(12, 6, Direction.ABOVE) == Hypotheses(12, 6)
    critical = CSAT.test_for({"region": "emea"}, Indicator.CSAT).levels[Severity.CRITICAL]
    assert critical == Hypotheses(55, 60)


def test_a_cusum_rule_needs_a_distance_and_keeps_to_its_own_settings() -> None:
    with pytest.raises(ValueError, match="needs no_change"):
        ThresholdRule(id="nps.low", metric="nps.relationship", window="1d", direction=Direction.BELOW, warning=20)
    with pytest.raises(ValueError, match="belong to method: window"):
        CSAT.model_validate({**CSAT.model_dump(), "for_windows": 2})
    with pytest.raises(ValueError, match="per hour or longer"):
        CSAT.model_validate({**CSAT.model_dump(), "budget": {"per": "5m"}})


def test_the_simulate_command_reproduces_the_hand_computed_case(capsys: pytest.CaptureFixture[str]) -> None:
    from cxstream.cli import main

    args = ["alerts", "simulate", "csat.delivery.low", "--fixed-volume", "--per-5m", "10", "--truth", "100",
            "--shift-to", "0", "--days", "2", "--runs", "5"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "threshold h 8.55 from 1 false breach per 30d across 3 scopes" in out  # the shipped rule's budget
    assert "false breaches 0 = 0.000 per 1,000 buckets" in out and "576 buckets (2 days)" in out
    # h = 8.549: the warning test needs 5 buckets of 1.823 (9.12), a breach 25 minutes after the shift
    assert "5 runs, 5 detected" in out and "median 25 min (95% CI 25 min to 25 min)" in out


def test_the_budget_command_lists_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    from cxstream.cli import main

    assert main(["alerts", "budget", "--per-5m", "20"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[2:] if line and not line.startswith("all")}
    assert set(lines) == {"csat.delivery.low", "delivery.delay.high", "nps.relationship.low", "first_response.slow",
                          "reopen_rate.high"}  # fmt: skip
    assert all("1.00 per 30 d" in line for line in lines.values())  # each within its declared budget
    assert "false breaches expected per 30 days" in out
