"""Sufficient statistics and the intervals every number carries (DESIGN.md, "Statistics").

:class:`Sufficient` is what tables store: counts per integer score, and count, sum, sum of squares and hits
of a measured quantity. Merging is addition, so windows and scopes roll up exactly and any statistic can be
derived later. The estimators below turn one into a value with its sample size and interval:

* CSAT: top-2-box share (4-5 on 1-5), Wilson score interval;
* CES: mean effort (1-7) with a Student t interval; also the share of "easy" answers (5-7), Wilson;
* NPS: %promoters (9-10) - %detractors (0-6) in points, with the adjusted Wald interval of Rocks (2016):
  3/4 of a pseudo-answer added to promoters and to detractors (n + 3 with passives), then
  z * sqrt((p + d - (p - d)^2) / n) around the adjusted score; never zero width;
* durations: mean; first response and resolution times (positive, skewed) with the modified Cox interval
  for the mean of lognormal data (Olsson 2005), exp(mean_log + s2/2 +- t * sqrt(s2/n + s2^2/(2(n-1)))) on
  the log moments, never below zero; a delivery delay (can be negative) with a t interval; SLA compliance as
  hits / n with a Wilson interval;
* means (CES, durations) need two values for a t interval: below that, "insufficient sample" whatever the
  configured minimum;
* rates: hits / n with a Wilson interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import NormalDist

from cxstream.domain.base import JsonObject, as_float, as_int, obj


@dataclass(slots=True)
class Sufficient:
    """Mergeable statistics of one scope in one time bucket. ``hist`` counts integer scores; ``n``, ``mean``
    and ``m2`` (sum of squared deviations from the mean) describe a measured quantity, ``hits`` counts the
    measurements or trials that meet a condition. Mean and m2 rather than sums of squares: the update
    (Welford) and the merge (Chan et al.) stay accurate when values are large and close together."""

    hist: dict[int, int] = field(default_factory=dict)
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    hits: int = 0
    log_n: int = 0  # the positive values among the n, and the mean and m2 of their logarithms
    log_mean: float = 0.0
    log_m2: float = 0.0

    def add_score(self, score: int) -> None:
        self.hist[score] = self.hist.get(score, 0) + 1

    def add_value(self, value: float, hit: bool = False) -> None:
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)
        self.hits += int(hit)
        if value > 0:
            log = math.log(value)
            self.log_n += 1
            log_delta = log - self.log_mean
            self.log_mean += log_delta / self.log_n
            self.log_m2 += log_delta * (log - self.log_mean)

    def add_trial(self, hit: bool) -> None:
        """One trial of a rate (e.g. a resolved ticket) and whether it counts (e.g. it was reopened)."""
        self.n += 1
        self.hits += int(hit)

    def merge(self, other: Sufficient) -> Sufficient:
        self.hist = {k: self.hist.get(k, 0) + other.hist.get(k, 0) for k in self.hist.keys() | other.hist.keys()}
        n = self.n + other.n
        if n:
            delta = other.mean - self.mean
            self.mean += delta * other.n / n
            self.m2 += other.m2 + delta * delta * self.n * other.n / n
        self.n = n
        self.hits += other.hits
        log_n = self.log_n + other.log_n
        if log_n:
            delta = other.log_mean - self.log_mean
            self.log_mean += delta * other.log_n / log_n
            self.log_m2 += other.log_m2 + delta * delta * self.log_n * other.log_n / log_n
        self.log_n = log_n
        return self

    @property
    def responses(self) -> int:
        return sum(self.hist.values())

    def count_between(self, low: int, high: int) -> int:
        return sum(c for s, c in self.hist.items() if low <= s <= high)

    def to_json(self) -> JsonObject:
        """Compact, JSON-safe form for table values (score keys as strings)."""
        out: JsonObject = {}
        if self.hist:
            out["h"] = {str(k): v for k, v in sorted(self.hist.items())}
        if self.n or self.hits:
            out.update(n=self.n, m=self.mean, v=self.m2, k=self.hits)
        if self.log_n:
            out.update(ln=self.log_n, lm=self.log_mean, lv=self.log_m2)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Sufficient:
        return cls(
            hist={int(k): as_int(v, "statistics h") for k, v in obj(data.get("h") or {}, "statistics h").items()},
            n=as_int(data.get("n", 0), "statistics n"),
            mean=as_float(data.get("m", 0.0), "statistics m"),
            m2=as_float(data.get("v", 0.0), "statistics v"),
            hits=as_int(data.get("k", 0), "statistics k"),
            log_n=as_int(data.get("ln", 0), "statistics ln"),
            log_mean=as_float(data.get("lm", 0.0), "statistics lm"),
            log_m2=as_float(data.get("lv", 0.0), "statistics lv"),
        )

    @classmethod
    def merged(cls, parts: Iterable[Sufficient]) -> Sufficient:
        out = cls()
        for part in parts:
            out.merge(part)
        return out


@dataclass(frozen=True)
class Estimate:
    """A number as shown to a user: value, sample size, interval at ``confidence``. ``value`` is None when
    ``n`` is below the minimum sample ("insufficient sample")."""

    value: float | None
    n: int
    low: float | None
    high: float | None
    confidence: float
    min_n: int
    unit: str

    @property
    def insufficient(self) -> bool:
        return self.value is None

    def describe(self, digits: int = 1) -> str:
        if self.value is None:
            return f"insufficient sample (n={self.n}, minimum {self.min_n})"
        level = round(self.confidence * 100)
        assert self.low is not None and self.high is not None
        return (
            f"{self.value:.{digits}f}{self.unit} (n={self.n}, {level}% CI "
            f"{self.low:.{digits}f} to {self.high:.{digits}f}{self.unit})"
        )


def z_value(confidence: float) -> float:
    """Two-sided standard normal quantile: 1.959964 for 0.95."""
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson(hits: float, n: float, confidence: float) -> tuple[float, float]:
    """Wilson score interval for a proportion hits/n (n > 0; weighted, fractional counts too)."""
    z = z_value(confidence)
    p = hits / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""

    def nonzero(value: float) -> float:
        return value if abs(value) > 1e-300 else 1e-300

    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 / nonzero(1 - qab * x / qap)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 / nonzero(1 + aa * d)
        c = nonzero(1 + aa / c)
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 / nonzero(1 + aa * d)
        c = nonzero(1 + aa / c)
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1 - math.exp(log_front) * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t >= 0 else tail


@lru_cache(maxsize=4096)  # the same few (p, n - 1) pairs come back on every window read
def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (0 < p < 1), by bisection to 1e-12."""
    if not 0 < p < 1:
        raise ValueError("p must be in (0, 1)")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2
    for _ in range(200):
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, high):
            break
    return (low + high) / 2


def mean_interval(n: int, mean: float, m2: float, confidence: float) -> tuple[float, float, float]:
    """(mean, low, high) with a Student t interval; the interval collapses to the mean when n < 2."""
    if n < 2:
        return mean, mean, mean
    variance = max(0.0, m2 / (n - 1))
    half = t_quantile(1 - (1 - confidence) / 2, n - 1) * math.sqrt(variance / n)
    return mean, mean - half, mean + half


def _insufficient(n: int, confidence: float, min_n: int, unit: str) -> Estimate:
    return Estimate(None, n, None, None, confidence, min_n, unit)


def proportion(hits: int, n: int, *, confidence: float, min_n: int, scale: float = 100.0, unit: str = "%") -> Estimate:
    """hits/n (as a percentage by default) with its Wilson interval."""
    if n == 0 or n < min_n:
        return _insufficient(n, confidence, min_n, unit)
    low, high = wilson(hits, n, confidence)
    return Estimate(hits / n * scale, n, low * scale, high * scale, confidence, min_n, unit)


def csat(stats: Sufficient, *, confidence: float, min_n: int) -> Estimate:
    """Share of 4-5 answers on 1-5 (top-2-box), in percent."""
    return proportion(stats.count_between(4, 5), stats.responses, confidence=confidence, min_n=min_n)


def ces_mean(stats: Sufficient, *, confidence: float, min_n: int) -> Estimate:
    """Mean effort score on 1-7 with a t interval (two answers at least)."""
    n = stats.responses
    min_n = max(min_n, 2)
    if n < min_n:
        return _insufficient(n, confidence, min_n, "")
    mean = sum(s * c for s, c in stats.hist.items()) / n
    m2 = sum(c * (s - mean) ** 2 for s, c in stats.hist.items())
    mean, low, high = mean_interval(n, mean, m2, confidence)
    return Estimate(mean, n, low, high, confidence, min_n, "")


def ces_easy(stats: Sufficient, *, confidence: float, min_n: int) -> Estimate:
    """Share of "easy" answers (5-7 on 1-7), in percent."""
    return proportion(stats.count_between(5, 7), stats.responses, confidence=confidence, min_n=min_n)


def nps(stats: Sufficient, *, confidence: float, min_n: int) -> Estimate:
    """Net promoter score in points (-100..100) with the adjusted Wald interval (module docstring): the plain
    Wald margin collapses to zero width when nearly everyone is a promoter, and covers far below its level."""
    n = stats.responses
    if n == 0 or n < min_n:
        return _insufficient(n, confidence, min_n, "")
    promoters, detractors = stats.count_between(9, 10), stats.count_between(0, 6)
    value = (promoters - detractors) / n * 100
    n_adj = n + 3
    p, d = (promoters + 0.75) / n_adj, (detractors + 0.75) / n_adj
    centre = (p - d) * 100
    margin = z_value(confidence) * math.sqrt(max(0.0, p + d - (p - d) ** 2) / n_adj) * 100
    low, high = max(-100.0, centre - margin), min(100.0, centre + margin)
    return Estimate(value, n, min(low, value), max(high, value), confidence, min_n, "")


def mean_value(
    stats: Sufficient, *, confidence: float, min_n: int, unit: str = "", log_scale: bool = False
) -> Estimate:
    """Mean of a measured quantity (e.g. minutes to first response), two values at least. ``log_scale``
    (positive, skewed quantities): the modified Cox interval when every value was positive, else the t
    interval cut at zero; otherwise the t interval."""
    min_n = max(min_n, 2)
    if stats.n < min_n:
        return _insufficient(stats.n, confidence, min_n, unit)
    mean, low, high = mean_interval(stats.n, stats.mean, stats.m2, confidence)
    if log_scale and stats.log_n == stats.n:
        low, high = cox_interval(stats.n, stats.log_mean, stats.log_m2, confidence)
        low, high = min(low, mean), max(high, mean)
    elif log_scale:
        low = max(0.0, low)
    return Estimate(mean, stats.n, low, high, confidence, min_n, unit)


def cox_interval(n: int, log_mean: float, log_m2: float, confidence: float) -> tuple[float, float]:
    """The modified Cox interval for the mean of lognormal data (Olsson 2005) from the log moments (n >= 2)."""
    s2 = log_m2 / (n - 1)
    half = t_quantile(1 - (1 - confidence) / 2, n - 1) * math.sqrt(s2 / n + s2 * s2 / (2 * (n - 1)))
    centre = log_mean + s2 / 2
    return math.exp(centre - half), math.exp(centre + half)


def hit_rate(stats: Sufficient, *, confidence: float, min_n: int) -> Estimate:
    """hits / n in percent: SLA compliance of a duration, or a rate such as reopened / resolved."""
    return proportion(stats.hits, stats.n, confidence=confidence, min_n=min_n)


def contact_count(stats: Sufficient, *, confidence: float, min_n: int) -> Estimate:
    """A count of arrivals in a window, with the exact (Garwood) Poisson interval of its rate: chi-square
    quantiles chi2(a/2, 2k)/2 and chi2(1 - a/2, 2k + 2)/2 (scipy, read only when a window is read). A count is
    never an insufficient sample: no contacts is a value."""
    from scipy.stats import chi2

    k = stats.n
    alpha = 1 - confidence
    low = 0.0 if k == 0 else float(chi2.ppf(alpha / 2, 2 * k)) / 2
    high = float(chi2.ppf(1 - alpha / 2, 2 * k + 2)) / 2
    return Estimate(float(k), k, low, high, confidence, 0, " contacts")
