"""The statistics of lasting impact against published values and independent computations, and by simulation:
units per arm as statsmodels' NormalIndPower gives them, the sample-ratio mismatch of 44,000 against 45,000,
difference-in-differences from group means, CUPED's theta and variance reduction, the confidence sequence's
false-positive rate under daily peeking, and adjusted effects that recover a planted change through a seasonal
swing that biases the naive pre/post."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from cxstream.domain.impact import cuped, sequential
from cxstream.domain.impact.did import (
    DAY_MS,
    counterfactual,
    did_daily,
    from_means,
    match_controls,
    mean_series,
    parallel_trends,
    pre_post,
)
from cxstream.domain.impact.planning import parse_ratio, per_arm, srm


@pytest.mark.parametrize(("baseline", "target", "printed"), [(0.80, 0.85, 902), (0.50, 0.55, 1565), (0.10, 0.12, 3835)])
def test_units_per_arm_match_normal_ind_power(baseline: float, target: float, printed: int) -> None:
    exact = NormalIndPower().solve_power(proportion_effectsize(target, baseline), alpha=0.05, power=0.8, ratio=1)
    assert per_arm(baseline, target) == math.ceil(exact)  # whole units, rounded up
    assert abs(per_arm(baseline, target) - printed) / printed < 0.01  # the printed figures, to 1 %


def test_sample_ratio_mismatch_of_the_reference() -> None:
    found = srm([44_000, 45_000], parse_ratio("50/50", 2))
    assert round(found.chi2, 2) == 11.24 and round(found.p, 4) == 0.0008 and found.alarm
    assert not srm([44_600, 44_400], [1, 1]).alarm
    assert parse_ratio("1:1:2", 3) == [1.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="has 2 parts for 3 arms"):
        parse_ratio("50/50", 3)


def test_difference_in_differences_from_group_means() -> None:
    assert round(from_means(control=(23.38, 21.10), treated=(20.43, 20.90)), 2) == 2.75


def test_cuped_theta_and_variance_reduction_against_an_independent_computation() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(3.5, 1.0, 4000)
    y = 0.6 * x + rng.normal(0, 0.8, 4000)
    fitted = cuped.fit(y.tolist(), x.tolist())
    # independently: the OLS slope of y on x, and the squared correlation
    slope = np.polyfit(x, y, 1)[0]
    r = np.corrcoef(x, y)[0, 1]
    assert fitted.theta == pytest.approx(slope, rel=1e-9)
    assert fitted.variance_reduction == pytest.approx(r * r, rel=1e-9)
    assert 0.3 < fitted.variance_reduction < 0.4  # 0.36 / (0.36 + 0.64)


def test_the_confidence_sequence_keeps_false_positives_under_alpha_when_read_every_day() -> None:
    """A/A experiments (no effect) read after every day's units, stopped at the first interval without zero."""
    rng = random.Random(5)
    alpha, runs, days, per_day = 0.05, 400, 30, 100
    sequential_hits = fixed_hits = 0
    for _ in range(runs):
        a = b = na = nb = 0
        stop_seq = stop_fixed = False
        for _ in range(days):
            a += sum(rng.random() < 0.8 for _ in range(per_day))
            b += sum(rng.random() < 0.8 for _ in range(per_day))
            na += per_day
            nb += per_day
            stop_seq = stop_seq or sequential.difference(a / na, na, b / nb, nb, alpha).excludes_zero
            stop_fixed = stop_fixed or sequential.difference(a / na, na, b / nb, nb, alpha, False).excludes_zero
        sequential_hits += stop_seq
        fixed_hits += stop_fixed
    rate = sequential_hits / runs
    print(f"false positives with daily peeking: confidence sequence {rate:.3f}, fixed horizon {fixed_hits / runs:.3f}"
          f" (alpha {alpha}, {runs} A/A runs of {days} days)")  # fmt: skip
    assert rate <= alpha
    assert fixed_hits / runs > 2 * alpha  # peeking at a fixed-horizon interval does inflate them


def test_the_confidence_sequence_is_wider_than_the_fixed_interval_and_narrows() -> None:
    seq = sequential.difference(0.80, 2000, 0.85, 2000, 0.05)
    fixed = sequential.difference(0.80, 2000, 0.85, 2000, 0.05, sequential=False)
    assert seq.high - seq.low > fixed.high - fixed.low
    assert seq.excludes_zero and fixed.excludes_zero
    later = sequential.difference(0.80, 20000, 0.85, 20000, 0.05)
    assert later.high - later.low < seq.high - seq.low


def day(i: int) -> int:
    return int(datetime(2025, 1, 6, tzinfo=UTC).timestamp() * 1000) + i * DAY_MS  # a Monday


def seasonal(rng: random.Random, days: int, level: float, effect: float, start: int, noise: float) -> dict[int, float]:
    """A daily share with a weekly pattern and a yearly swing (a peak season), plus ``effect`` from day ``start``."""
    out = {}
    for i in range(days):
        weekly = [0.0, 0.01, 0.01, 0.0, -0.01, -0.03, -0.02][i % 7]
        yearly = 0.06 * math.sin(2 * math.pi * (i - 200) / 365)
        out[day(i)] = level + weekly + yearly + (effect if i >= start else 0.0) + rng.gauss(0, noise)
    return out


def test_adjusted_estimates_recover_a_planted_effect_the_naive_one_misses() -> None:
    rng = random.Random(3)
    start, effect = 300, 0.04  # rolled out as the yearly swing turns down
    treated = seasonal(rng, 360, 0.78, effect, start, 0.012)
    controls = {f"c{k}": seasonal(rng, 360, 0.80 + 0.01 * k, 0.0, start, 0.012) for k in range(4)}
    rollout = day(start)
    naive = pre_post(treated, rollout)
    assert naive is not None and not naive.low <= effect <= naive.high  # biased by the seasonal swing
    chosen = match_controls(treated, controls, rollout, k=3)
    assert len(chosen) == 3
    control = mean_series([controls[c] for c in chosen])
    did = did_daily(treated, control, rollout)
    assert did is not None and did.low <= effect <= did.high and did.p is not None and did.p < 0.05, did
    trends = parallel_trends(treated, control, rollout)
    assert trends is not None and trends.holds, trends.summary
    forecast = counterfactual(treated, [controls[c] for c in chosen], rollout)
    assert forecast is not None and forecast.estimate.low <= effect <= forecast.estimate.high, forecast.estimate
    assert forecast.r2 > 0.8 and len(forecast.days) == 60
    assert all(lo < hi for lo, hi in zip(forecast.low, forecast.high, strict=True))


def test_no_change_claims_nothing_in_most_runs() -> None:
    """Under no effect the difference-in-differences interval holds zero at about its level."""
    misses = 0
    runs = 60
    for seed in range(runs):
        rng = random.Random(100 + seed)
        treated = seasonal(rng, 200, 0.78, 0.0, 150, 0.012)
        control = seasonal(rng, 200, 0.80, 0.0, 150, 0.012)
        found = did_daily(treated, control, day(150))
        assert found is not None
        misses += not found.low <= 0 <= found.high
    assert misses / runs <= 0.05 + 0.06  # 5 % plus the binomial slack of 60 runs


def test_a_diverging_pre_period_is_flagged() -> None:
    rng = random.Random(8)
    treated = {day(i): 0.78 + 0.0015 * i + rng.gauss(0, 0.005) for i in range(120)}
    control = {day(i): 0.80 + rng.gauss(0, 0.005) for i in range(120)}
    trends = parallel_trends(treated, control, day(90))
    assert trends is not None and not trends.holds and "doubtful" in trends.summary


def test_the_what_if_commands_print_the_reference_values(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from cxstream.cli import main

    assert main(["experiments", "plan", "--baseline", "0.80", "--target", "0.85", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["per_arm"] == 903  # 902.3 rounded up to whole units
    assert main(["experiments", "srm", "44000", "45000", "--ratio", "50/50", "--json"]) == 1  # an alarm
    found = json.loads(capsys.readouterr().out)
    assert round(found["chi2"], 2) == 11.24 and round(found["p"], 4) == 0.0008
    assert main(["impact", "did", "--control", "23.38,21.10", "--treated", "20.43,20.90", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["did"] == 2.75
    assert main(["impact", "did", "--control", "23.38", "--treated", "20.43,20.90"]) == 2
    assert "takes two numbers" in capsys.readouterr().err


def test_a_change_in_one_region_is_recovered_from_the_history_and_controls_are_matched() -> None:
    """A year of daily delivery CSAT per region with a weekly pattern and a yearly swing; EMEA gets +5 points on
    day 330, while the season turns down: the naive pre/post is biased, the adjusted estimates are not."""
    from pathlib import Path

    from cxstream.config.topology import load_topology
    from cxstream.domain.history.facts import FactKey, HistoryFact
    from cxstream.domain.history.index import HistoryIndex
    from cxstream.domain.impact.changes import change_impact
    from cxstream.domain.metrics.stats import Sufficient
    from cxstream.serde.catalog import SchemaCatalog

    root = Path(__file__).resolve().parents[2]
    metrics = load_topology(root / "topologies", SchemaCatalog.from_dir(root / "schemas").names()).metrics
    definition = metrics.definition("csat.delivery")
    rng = random.Random(21)
    index = HistoryIndex()
    levels = {"emea": 0.74, "amer": 0.78, "apac": 0.76, "latam": 0.72}
    for i in range(360):
        for region, level in levels.items():
            weekly = [0.0, 0.01, 0.01, 0.0, -0.01, -0.03, -0.02][i % 7]
            yearly = 0.07 * math.sin(2 * math.pi * (i - 240) / 365)
            share = level + weekly + yearly + (0.05 if region == "emea" and i >= 330 else 0.0)
            stats = Sufficient()
            for _ in range(400):
                stats.add_score(5 if rng.random() < share else 2)
            scope = tuple(region if d == "region" else "-" for d in definition.dimensions)
            fact = HistoryFact(FactKey("csat.delivery", DAY_MS, day(i), "p0", scope), definition.dimensions, stats)
            index.apply(fact.key.encode(), fact)
    found = change_impact(index, metrics, "csat.delivery", {"region": "emea"}, day(330), now_ms=day(361))
    assert found.matched and len(found.controls) == 3 and {"region": "emea"} not in found.controls
    assert found.naive is not None and not found.naive.low <= 5 <= found.naive.high, found.naive  # biased
    assert found.did is not None and found.did.low <= 5 <= found.did.high, found.did
    adjusted = found.adjusted
    assert adjusted is not None and adjusted.method.startswith("counterfactual") and adjusted.low <= 5 <= adjusted.high
    assert found.trends is not None and found.trends.holds
    declared = change_impact(index, metrics, "csat.delivery", {"region": "emea"}, day(330), now_ms=day(361),
                             controls=[{"region": "amer"}, {"region": "apac"}])  # fmt: skip
    assert not declared.matched and declared.did is not None and declared.did.low <= 5 <= declared.did.high
    with pytest.raises(ValueError, match="one dimension and value"):
        change_impact(index, metrics, "csat.delivery", {}, day(330), now_ms=day(361))


def test_a_remediation_items_rollouts_get_their_adjusted_effect() -> None:
    from pathlib import Path

    from cxstream.config.topology import load_topology
    from cxstream.domain.history.facts import FactKey, HistoryFact
    from cxstream.domain.history.index import HistoryIndex
    from cxstream.domain.impact.changes import item_impacts
    from cxstream.domain.metrics.stats import Sufficient
    from cxstream.serde.catalog import SchemaCatalog

    root = Path(__file__).resolve().parents[2]
    metrics = load_topology(root / "topologies", SchemaCatalog.from_dir(root / "schemas").names()).metrics
    definition = metrics.definition("csat.delivery")
    rng = random.Random(5)
    index = HistoryIndex()
    for i in range(120):
        for region, level in {"emea": 0.74, "amer": 0.78, "apac": 0.76}.items():
            share = level + (0.06 if region == "emea" and i >= 90 else 0.0)
            stats = Sufficient()
            for _ in range(300):
                stats.add_score(5 if rng.random() < share else 2)
            scope = tuple(region if d == "region" else "-" for d in definition.dimensions)
            fact = HistoryFact(FactKey("csat.delivery", DAY_MS, day(i), "p0", scope), definition.dimensions, stats)
            index.apply(fact.key.encode(), fact)
    rollouts = [
        ({"region": "emea"}, day(90) + 3_600_000),
        ({"region": "emea", "site": "ams-1"}, day(90)),
        ({"region": "amer"}, day(119)),
    ]  # a two-key scope and a rollout of yesterday: no estimate
    found = item_impacts(rollouts, ["csat.delivery", "nps.relationship"], index, metrics, day(120))
    [emea] = found
    assert emea.treated == {"region": "emea"} and emea.adjusted is not None
    assert emea.adjusted.low <= 6 <= emea.adjusted.high, emea.adjusted
