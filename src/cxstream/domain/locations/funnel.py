"""Funnel plots of sites for one metric and period, with over-dispersion handled as the NHS and Public Health
England practice does (Spiegelhalter 2005, "Handling over-dispersion of performance indicators", Qual Saf
Health Care 14:347):

* each site's value against the target p0 (by default the value over all sites), its standard error at p0:
  s_i = sqrt(p0 (1 - p0) / n_i) for a share, sqrt((p + d - (p - d)^2) / n_i) for an NPS (the design notes'
  variance at the overall promoter and detractor shares), sd / sqrt(n_i) for a mean;
* z_i = (y_i - p0) / s_i; winsorised at the 10th and 90th percentiles (so a few outliers do not inflate it),
  phi = mean of the squared winsorised z: the over-dispersion factor;
* when there are at least ten locations and k phi exceeds the chi-square's (k - 1 degrees of freedom) 95th
  percentile, an additive random effect
  tau^2 = (k phi - (k - 1)) / (sum w_i - sum w_i^2 / sum w_i), w_i = 1 / s_i^2 (the DerSimonian-Laird form),
  else tau^2 = 0;
* limits at n: p0 +/- z sqrt(s(n)^2 + tau^2) for 95 % (z 1.96) and 99.8 % (z 3.09), and each site's adjusted
  z_i = (y_i - p0) / sqrt(s_i^2 + tau^2).

So big sites are not flagged for the noise every site has beyond the binomial, and small ones are not hidden:
their own sampling error still dominates their limits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)  # 1.959964
Z998 = NormalDist().inv_cdf(0.999)  # 3.090232
WINSOR = 0.10
MIN_FOR_TAU = 10  # fewer locations than this give too unstable a random effect: none is estimated


@dataclass(frozen=True)
class SiteValue:
    site: str
    value: float  # a share (0-1), an NPS fraction (-1..1) or a mean
    n: int
    se: float  # the value's standard error at the target (s_i)


@dataclass(frozen=True)
class FunnelPoint:
    site: str
    value: float
    n: int
    z: float  # raw: (value - target) / s_i
    z_adjusted: float  # with tau^2
    band: str  # inside, warning (beyond 95 %), alarm (beyond 99.8 %)
    low95: float
    high95: float
    low998: float
    high998: float


@dataclass(frozen=True)
class Funnel:
    target: float
    phi: float  # over-dispersion factor from the winsorised z-scores
    tau2: float  # additive random-effects variance (0 when the dispersion is what sampling explains)
    dispersion_p: float | None  # chi-square test of k phi on k - 1 degrees of freedom
    points: tuple[FunnelPoint, ...]

    @property
    def overdispersed(self) -> bool:
        return self.tau2 > 0


def share_se(p0: float, n: int) -> float:
    return math.sqrt(max(p0 * (1.0 - p0), 0.0) / n)


def nps_se(promoters: float, detractors: float, n: int) -> float:
    return math.sqrt(max(promoters + detractors - (promoters - detractors) ** 2, 0.0) / n)


def limits(target: float, se: float, tau2: float, z: float, *, floor: float | None = 0.0,
           cap: float | None = 1.0) -> tuple[float, float]:  # fmt: skip
    half = z * math.sqrt(se * se + tau2)
    low, high = target - half, target + half
    return (low if floor is None else max(floor, low)), (high if cap is None else min(cap, high))


def winsorised(values: Sequence[float], share: float = WINSOR) -> list[float]:
    """Values clamped to their ``share`` and 1 - ``share`` quantiles (linear interpolation, numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return []

    def quantile(q: float) -> float:
        at = q * (len(ordered) - 1)
        lo = math.floor(at)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (at - lo)

    low, high = quantile(share), quantile(1.0 - share)
    return [min(max(v, low), high) for v in values]


def dispersion(z: Sequence[float], se: Sequence[float]) -> tuple[float, float, float | None]:
    """(phi, tau^2, the chi-square test's p-value) from the raw z-scores and standard errors."""
    from scipy.stats import chi2

    k = len(z)
    if k < 2:
        return 1.0, 0.0, None
    if k < MIN_FOR_TAU:  # phi still reported; tau^2 from so few locations would swing with one of them
        return sum(v * v for v in winsorised(z)) / k, 0.0, None
    phi = sum(v * v for v in winsorised(z)) / k
    p_value = float(chi2.sf(k * phi, k - 1))
    weights = [1.0 / (s * s) for s in se if s > 0]
    spread = sum(weights) - sum(w * w for w in weights) / sum(weights) if weights else 0.0
    if p_value >= 0.05 or spread <= 0 or k * phi <= k - 1:
        return phi, 0.0, p_value
    return phi, (k * phi - (k - 1)) / spread, p_value


def funnel(sites: Sequence[SiteValue], target: float, *, bounded: bool = True) -> Funnel:
    """The funnel of ``sites`` around ``target``; ``bounded``: limits stay within 0-1 (shares)."""
    usable = [s for s in sites if s.n > 0 and s.se > 0]
    z = [(s.value - target) / s.se for s in usable]
    phi, tau2, p_value = dispersion(z, [s.se for s in usable])
    floor, cap = (0.0, 1.0) if bounded else (None, None)
    points = []
    for site, raw in zip(usable, z, strict=True):
        adjusted = (site.value - target) / math.sqrt(site.se * site.se + tau2)
        low95, high95 = limits(target, site.se, tau2, Z95, floor=floor, cap=cap)
        low998, high998 = limits(target, site.se, tau2, Z998, floor=floor, cap=cap)
        band = "alarm" if abs(adjusted) > Z998 else "warning" if abs(adjusted) > Z95 else "inside"
        points.append(FunnelPoint(site.site, site.value, site.n, raw, adjusted, band, low95, high95, low998,
                                  high998))  # fmt: skip
    return Funnel(target, phi, tau2, p_value, tuple(points))


def expected_false_alarms(comparisons: int, two_sided_level: float = 0.998) -> float:
    """Alarms pure noise raises among ``comparisons`` sites x metrics beyond the 99.8 % limits."""
    return comparisons * (1.0 - two_sided_level)
