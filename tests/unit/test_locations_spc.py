"""Control charts and funnel plots: the p-chart reference values, each Nelson rule on constructed series (one
series that fires it and one that just misses), and the funnel's over-dispersion against an independent
computation and by simulation."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from cxstream.domain.locations.funnel import Z95, Z998, SiteValue, dispersion, funnel, share_se
from cxstream.domain.locations.spc import Period, nelson, p_chart, p_limits


def test_p_chart_reference_limits() -> None:
    chart = p_chart([Period(32, 200)] * 10)
    assert chart.centre == pytest.approx(0.16)
    limits = chart.points[0].limits
    assert limits is not None and round(limits.ucl, 4) == 0.2378 and round(limits.lcl, 4) == 0.0822
    assert chart.firings == ()  # a flat series fires nothing (z = 0: on neither side)
    assert p_limits(0.01, 20).lcl == 0.0  # floored at 0


def fired(z: list[float]) -> set[int]:
    return {f.rule for f in nelson(z)}


@pytest.mark.parametrize(
    ("rule", "fires", "misses"),
    [
        (1, [0.0, 0.2, 3.2], [0.0, 0.2, 2.9]),
        (2, [0.5] * 9, [0.5] * 8 + [-0.5]),
        (3, [-1.0, -0.6, -0.2, 0.2, 0.6, 1.0], [-1.0, -0.6, -0.2, 0.2, 0.6, 0.6]),
        (4, [0.5, -0.5] * 7, [0.5, -0.5] * 6 + [0.5]),
        (5, [0.0, 2.5, 0.1, 2.2], [2.5, 0.0, 0.1, 2.2]),
        (6, [1.5, 1.5, 0.0, 1.5, 1.5], [1.5, 1.5, 0.0, 0.0, 1.5]),
        (7, [0.3, -0.3] * 7 + [0.3], [0.3, -0.3] * 7),
        (8, [1.5, -1.5] * 4, [1.5, -1.5] * 3 + [1.5, 0.5]),
    ],
)  # fmt: skip
def test_each_nelson_rule(rule: int, fires: list[float], misses: list[float]) -> None:
    assert rule in fired(fires)
    assert rule not in fired(misses)
    assert any(f.at == len(fires) - 1 for f in nelson(fires) if f.rule == rule)  # at the completing point


def test_a_gap_breaks_a_run() -> None:
    assert 2 not in fired([0.5] * 5 + [None] + [0.5] * 4)  # type: ignore[list-item]


def test_p_chart_names_a_shift() -> None:
    periods = [Period(32, 200)] * 10 + [Period(52, 200)] * 3
    chart = p_chart(periods, centre=0.16)
    assert 1 in chart.rules_fired() and 5 in chart.rules_fired()


# --- funnel plots --------------------------------------------------------------------------------------------


def independent_tau2(values: list[float], ns: list[int], p0: float) -> tuple[float, float]:
    """Spiegelhalter's additive random effect, computed with numpy."""
    from scipy.stats import chi2

    y, n = np.array(values), np.array(ns, dtype=float)
    s = np.sqrt(p0 * (1 - p0) / n)
    z = (y - p0) / s
    lo, hi = np.percentile(z, [10, 90])
    phi = float(np.mean(np.clip(z, lo, hi) ** 2))
    k = len(z)
    w = 1 / s**2
    if chi2.sf(k * phi, k - 1) >= 0.05 or k * phi <= k - 1:
        return phi, 0.0
    return phi, float((k * phi - (k - 1)) / (w.sum() - (w**2).sum() / w.sum()))


def sites(values: list[float], ns: list[int], p0: float) -> list[SiteValue]:
    return [SiteValue(f"s{i}", v, n, share_se(p0, n)) for i, (v, n) in enumerate(zip(values, ns, strict=True))]


def test_over_dispersion_matches_an_independent_computation() -> None:
    rng = random.Random(3)
    ns = [rng.randint(50, 3000) for _ in range(40)]
    truth = [min(0.99, max(0.01, rng.gauss(0.2, 0.04))) for _ in ns]  # real spread between sites
    values = [sum(rng.random() < t for _ in range(n)) / n for t, n in zip(truth, ns, strict=True)]
    p0 = sum(v * n for v, n in zip(values, ns, strict=True)) / sum(ns)
    result = funnel(sites(values, ns, p0), p0)
    phi, tau2 = independent_tau2(values, ns, p0)
    assert result.phi == pytest.approx(phi, rel=1e-9) and result.tau2 == pytest.approx(tau2, rel=1e-9)
    assert result.overdispersed and math.sqrt(result.tau2) == pytest.approx(0.04, rel=0.35)
    z = [(v - p0) / share_se(p0, n) for v, n in zip(values, ns, strict=True)]
    assert dispersion(z, [share_se(p0, n) for n in ns])[1] == pytest.approx(tau2, rel=1e-9)


def test_limits_at_n() -> None:
    result = funnel(sites([0.074], [200], 0.074), 0.074)
    [point] = result.points
    half95 = Z95 * math.sqrt(0.074 * 0.926 / 200)
    assert (point.low95, point.high95) == pytest.approx((0.074 - half95, 0.074 + half95))
    assert point.high998 - point.low998 == pytest.approx(2 * Z998 * math.sqrt(0.074 * 0.926 / 200))


def test_a_worse_small_site_is_flagged_and_a_big_noisy_one_is_not() -> None:
    """Thirty sites with some real spread; a small site planted much worse, a very large site at the mean with a
    little extra spread: with the random effect the large one stays inside, the small one is an alarm."""
    rng = random.Random(11)
    ns = [rng.randint(300, 1500) for _ in range(30)] + [150, 20000]
    truth = [min(0.99, max(0.01, rng.gauss(0.2, 0.03))) for _ in range(30)] + [0.45, 0.2 + 0.035]
    values = [sum(rng.random() < t for _ in range(n)) / n for t, n in zip(truth, ns, strict=True)]
    p0 = sum(v * n for v, n in zip(values, ns, strict=True)) / sum(ns)
    result = funnel(sites(values, ns, p0), p0)
    bands = {p.site: p.band for p in result.points}
    assert bands["s30"] == "alarm"  # the small, worse site
    assert bands["s31"] != "alarm"  # the big site at the mean with more spread
    big = next(p for p in result.points if p.site == "s31")
    assert abs(big.z) > Z998  # its raw z: without the random effect it would have been flagged for noise


def test_false_alarms_under_no_difference_stay_near_the_nominal_rate() -> None:
    """All sites equal (binomial noise only): alarms beyond 99.8 % in about 0.2 % of site-periods."""
    rng = np.random.default_rng(5)
    alarms = total = 0
    for _ in range(300):
        ns = rng.integers(100, 2000, size=50)
        hits = rng.binomial(ns, 0.2)
        values = (hits / ns).tolist()
        p0 = float(hits.sum() / ns.sum())
        result = funnel(sites(values, ns.tolist(), p0), p0)
        alarms += sum(p.band == "alarm" for p in result.points)
        total += len(result.points)
    rate = alarms / total
    assert rate < 0.002 * 2.5, rate  # 15,000 site-periods: about 30 expected


def test_laney_widens_the_limits_of_a_big_drifting_site_only() -> None:
    rng = random.Random(2)
    shares = [min(0.99, max(0.01, rng.gauss(0.8, 0.03))) for _ in range(28)]  # the share drifts day to day
    drifting = [Period(sum(rng.random() < share for _ in range(4000)), 4000) for share in shares]
    plain = p_chart(drifting, laney=False)
    wide = p_chart(drifting)
    assert wide.sigma_z > 3 and 1 in plain.rules_fired() and 1 not in wide.rules_fired()
    binomial = [Period(sum(rng.random() < 0.8 for _ in range(200)), 200) for _ in range(28)]
    assert p_chart(binomial).sigma_z == pytest.approx(1.0, abs=0.35)  # binomial only: about 1
