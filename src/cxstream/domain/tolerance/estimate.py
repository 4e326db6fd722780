"""How satisfaction changes with an operational value, and where customers stop tolerating it.

From satisfied answers of n per band of the operational value (ordered from best to worst):

- each band's share with its Wilson interval;
- a monotone curve: weighted isotonic regression of the band shares on the band order, not rising as the
  value gets worse (``scipy.optimize.isotonic_regression``, weights n);
- the plateau: the curve's value on the best band; the **tolerance point**: where the curve, read linearly
  between band middles, has fallen ``drop`` points below the plateau;
- whether there is a fall at all: the likelihood ratio of the monotone curve against one pooled share (the
  order-restricted test of Robertson, Wright and Dykstra), its null distribution drawn by parametric bootstrap
  with every band at the pooled share and the answers per band as observed: a tolerance point is claimed only
  when that test says p < alpha and the curve falls by ``drop``;
- the point's interval: percentile bootstrap, answers resampled within each band (binomial per band); a
  resample whose curve never falls by ``drop`` in the observed range counts as beyond it, so the upper bound
  reads "beyond the observed range" when more than the tail share of resamples find no point;
- the slope beyond it: weighted least squares of the band shares on the band middles from the point on, each
  band weighted by its binomial sampling variance and the scale fixed at one (statsmodels, ``cov_type="fixed
  scale"``), in points per unit of the operational value, with its interval.

Estimates from the metric history's closed days (``estimate_from_history``) add a scope's days up per band.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm
from scipy.optimize import isotonic_regression

from cxstream.domain.metrics.stats import wilson


@dataclass(frozen=True)
class BandCount:
    label: str
    middle: float  # the value that stands for the band (its middle; an open band's, half a width beyond)
    hits: int  # satisfied answers
    n: int


@dataclass(frozen=True)
class BandShare:
    label: str
    middle: float
    n: int
    share: float
    low: float
    high: float
    fitted: float  # the monotone curve at this band
    fitted_low: float | None = None  # the curve's pointwise bootstrap interval
    fitted_high: float | None = None


@dataclass(frozen=True)
class Tolerance:
    bands: tuple[BandShare, ...]
    n: int
    plateau: float | None  # share on the best band of the curve
    drop: float  # points
    point: float | None  # where the curve has fallen `drop` points; None: not claimed
    point_low: float | None
    point_high: float | None  # None with a point: beyond the observed range
    p_value: float | None  # of the test of no fall
    slope: float | None  # points per unit beyond the point (negative: satisfaction falls)
    slope_low: float | None
    slope_high: float | None
    claimed: bool
    reason: str  # why no point is claimed, or ""
    confidence: float
    resamples: int


def _fit(shares: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.asarray(isotonic_regression(shares, weights=weights, increasing=False).x)


def _deviance(good: np.ndarray, ns: np.ndarray, fitted: np.ndarray) -> float:
    """The likelihood-ratio statistic of the monotone curve against one pooled share (binomial deviance)."""
    pooled = good.sum() / ns.sum()
    f = np.clip(fitted, 1e-9, 1 - 1e-9)
    p0 = min(max(pooled, 1e-9), 1 - 1e-9)
    bad = ns - good
    return float(2 * np.sum(good * np.log(f / p0) + bad * np.log((1 - f) / (1 - p0))))


def _crossing(fitted: np.ndarray, middles: np.ndarray, target: float) -> float | None:
    """Where the curve, read linearly between band middles, first reaches ``target`` or below."""
    if fitted[0] <= target:
        return float(middles[0])
    for i in range(1, len(fitted)):
        if fitted[i] <= target:
            a, b = fitted[i - 1], fitted[i]
            frac = (a - target) / (a - b) if a > b else 0.0
            return float(middles[i - 1] + frac * (middles[i] - middles[i - 1]))
    return None


def estimate(counts: Sequence[BandCount], drop_points: float, *, higher_is_better: bool = True,
             confidence: float = 0.95, alpha: float = 0.05, resamples: int = 400, min_n: int = 200,
             seed: int = 0) -> Tolerance:  # fmt: skip
    """The tolerance curve and point of answers per band, bands ordered by the operational value (best first)."""
    used = [c for c in counts if c.n > 0]
    n = sum(c.n for c in used)
    drop = drop_points / 100
    if len(used) < 3 or n < min_n:
        shares = tuple(BandShare(c.label, c.middle, c.n, c.hits / c.n, *wilson(c.hits, c.n, confidence),
                                 c.hits / c.n) for c in used)  # fmt: skip
        why = f"{n:,} answers in {len(used)} bands: at least {min_n:,} in 3 bands are needed"
        return Tolerance(shares, n, None, drop_points, None, None, None, None, None, None, None, False, why,
                         confidence, 0)  # fmt: skip
    ns = np.array([c.n for c in used], dtype=float)
    hits = np.array([c.hits for c in used], dtype=float)
    middles = np.array([c.middle for c in used], dtype=float)
    good = hits if higher_is_better else ns - hits  # a share where lower is better is fitted as its complement
    fitted = _fit(good / ns, ns)
    plateau = float(fitted[0])
    point = _crossing(fitted, middles, plateau - drop)
    observed = _deviance(good, ns, fitted)
    rng = np.random.default_rng(seed)
    pooled = good.sum() / ns.sum()
    null = np.empty(resamples)
    for b in range(resamples):
        drawn = rng.binomial(ns.astype(int), pooled).astype(float)
        null[b] = _deviance(drawn, ns, _fit(drawn / ns, ns))
    p_value = float((1 + np.sum(null >= observed - 1e-9)) / (1 + resamples))
    points = np.empty(resamples)
    curves = np.empty((resamples, len(used)))
    for b in range(resamples):
        sample = rng.binomial(ns.astype(int), good / ns) / ns
        curve = _fit(sample, ns)
        curves[b] = curve
        found = _crossing(curve, middles, float(curve[0]) - drop)
        points[b] = math.inf if found is None else found
    tail = (1 - confidence) / 2
    low_q, high_q = np.quantile(points, [tail, 1 - tail], method="inverted_cdf")  # inf: no point
    lows, highs = np.quantile(curves, [tail, 1 - tail], axis=0)
    if not higher_is_better:
        fitted, lows, highs = 1 - fitted, 1 - highs, 1 - lows
    shown = [
        BandShare(
            c.label, c.middle, c.n, c.hits / c.n, *wilson(c.hits, c.n, confidence), float(f), float(lo), float(hi)
        )
        for c, f, lo, hi in zip(used, fitted, lows, highs, strict=True)
    ]
    claimed = point is not None and p_value < alpha
    reason = ""
    if point is None:
        reason = f"satisfaction does not fall {drop_points:g} points within the observed range"
    elif not claimed:
        reason = f"the fall is not significant (p {p_value:.3f}, alpha {alpha:g})"
    slope = slope_low = slope_high = None
    if claimed and point is not None:
        beyond = middles >= point
        if beyond.sum() >= 2 and len(set(middles[beyond])) >= 2:
            x = sm.add_constant(middles[beyond])
            share = hits / ns
            variance = np.clip(share * (1 - share), 0.01, None) / ns  # each band's binomial sampling variance
            fit = sm.WLS(share[beyond], x, weights=1 / variance[beyond]).fit(cov_type="fixed scale")
            lo, hi = fit.conf_int(1 - confidence)[1]
            slope, slope_low, slope_high = 100 * float(fit.params[1]), 100 * float(lo), 100 * float(hi)
    return Tolerance(
        bands=tuple(shown), n=int(n), plateau=plateau if higher_is_better else 1 - plateau, drop=drop_points,
        point=point if claimed else None,
        point_low=float(low_q) if claimed and math.isfinite(low_q) else None,
        point_high=float(high_q) if claimed and math.isfinite(high_q) else None,
        p_value=p_value, slope=slope, slope_low=slope_low, slope_high=slope_high, claimed=claimed, reason=reason,
        confidence=confidence, resamples=resamples,
    )  # fmt: skip


def sentence(t: Tolerance, who: str, what: str, unit: str, per: float = 10.0) -> str:
    """``Customers in EMEA tolerate deliveries up to 19 h late (95 % CI 14-25 h); beyond that, CSAT drops 4.1
    points per 10 h (n=12,480).``"""
    if not t.claimed or t.point is None:
        return f"{who}: no tolerance point claimed for {what} ({t.reason}; n={t.n:,})"
    level = round(100 * t.confidence)
    high = f"{t.point_high:.0f}" if t.point_high is not None else "beyond the observed range"
    low = f"{t.point_low:.0f}" if t.point_low is not None else "?"
    text = f"{who} tolerate {what} up to {t.point:.0f} {unit} ({level} % CI {low}-{high} {unit})"
    if t.slope is not None:
        text += f"; beyond that, satisfaction moves {t.slope * per:+.1f} points per {per:g} {unit}"
    return f"{text} (n={t.n:,})"


def counts_by_band(per_band: Mapping[str, tuple[int, int]], order: Sequence[tuple[str, float]]) -> list[BandCount]:
    """Band counts in the declared order: ``per_band`` maps a label to (hits, n)."""
    return [BandCount(label, middle, *per_band[label]) for label, middle in order if label in per_band]
