"""What a cusum rule costs, measured on simulated answers through the worker's own test code
(:class:`~cxstream.domain.alerting.detection.Test`): false breaches under no change, and how long a shift
takes to raise a breach. Used by ``cxstream alerts simulate`` and the tests; pure Python, seeded.

Answers per bucket are Poisson with the given mean (or exactly that many with ``fixed_volume``). A share
(CSAT, reopen rate) is a hit with probability truth / 100; an NPS answer is a promoter, passive or detractor
with ``passives`` passives and the rest split to give the true score; CES answers are the true mean plus
normal noise rounded onto 1-7; durations are lognormal with the true mean and log-scale ``sigma``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from cxstream.domain.alerting.cusum import LevelState
from cxstream.domain.alerting.detection import SHARES, Test, severity_of_levels
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.metrics.spec import Indicator
from cxstream.domain.metrics.stats import Sufficient

BUCKETS_PER_DAY = 288
VARIANCE_BUCKETS = 84  # the worker pools the variance over the buckets it reads (about 7 hours) or the rule's window


@dataclass(frozen=True)
class Traffic:
    """How answers arrive in the simulation."""

    per_bucket: float
    fixed_volume: bool = False
    passives: float = 0.3  # NPS: share of 7-8 answers
    sd: float = 1.5  # CES: answer spread on the 1-7 scale
    sigma: float = 1.0  # durations: log-scale spread

    def count(self, rng: random.Random) -> int:
        if self.fixed_volume:
            return int(self.per_bucket)
        # Poisson by inversion of the cumulative distribution (volumes per bucket are small)
        limit, k, p = rng.random(), 0, math.exp(-self.per_bucket)
        total = p
        while total < limit and k < 10 * self.per_bucket + 50:
            k += 1
            p *= self.per_bucket / k
            total += p
        return k


def draw_bucket(indicator: Indicator, truth: float, traffic: Traffic, rng: random.Random) -> Sufficient:
    """One bucket of simulated answers at the true value ``truth`` (in the rule's unit)."""
    stats = Sufficient()
    n = traffic.count(rng)
    if indicator is Indicator.CSAT:
        p = min(1.0, max(0.0, truth / 100))
        for _ in range(n):
            stats.add_score(5 if rng.random() < p else 2)
    elif indicator in SHARES:
        p = min(1.0, max(0.0, truth / 100))
        for _ in range(n):
            stats.add_trial(rng.random() < p)
    elif indicator is Indicator.NPS:
        rest = 1 - traffic.passives
        promoters = (rest + truth / 100) / 2
        if not 0 <= promoters <= rest:
            raise ValueError(f"an NPS of {truth:g} needs fewer than {traffic.passives:.0%} passives")
        for _ in range(n):
            u = rng.random()
            stats.add_score(10 if u < promoters else 8 if u < promoters + traffic.passives else 3)
    elif indicator is Indicator.CES:
        for _ in range(n):
            stats.add_score(min(7, max(1, round(rng.gauss(truth, traffic.sd)))))
    else:
        mu = math.log(max(truth, 1e-9)) - traffic.sigma**2 / 2  # lognormal with mean truth
        for _ in range(n):
            stats.add_value(rng.lognormvariate(mu, traffic.sigma))
    return stats


class Run:
    """One simulated scope: the test's level states and the variance pooled over recent buckets."""

    def __init__(self, test: Test, pool: int = VARIANCE_BUCKETS) -> None:
        self.test = test
        self.pool = max(pool, VARIANCE_BUCKETS)
        self.levels: Mapping[Severity, LevelState] = {}
        self._recent: list[Sufficient] = []
        self._variance: float | None = None
        self._steps = 0

    def step(self, stats: Sufficient) -> Severity | None:
        self._recent = [*self._recent[-(self.pool - 1) :], stats]
        self._steps += 1
        if self._steps % 12 == 1 or self._variance is None:  # re-estimated hourly, as often as matters
            self._variance = self.test.variance(Sufficient.merged(self._recent))
        self.levels = self.test.run(self.levels, [stats], self._variance)
        return severity_of_levels(self.levels)


@dataclass(frozen=True)
class NoChange:
    """False breaches on a stream whose truth never moves."""

    buckets: int
    breaches: int
    breached_buckets: int  # buckets spent in a breach

    @property
    def per_1000(self) -> float:
        return 1000 * self.breaches / self.buckets

    @property
    def per_day(self) -> float:
        return BUCKETS_PER_DAY * self.breaches / self.buckets

    @property
    def per_30_days(self) -> float:
        return 30 * self.per_day


def no_change(test: Test, truth: float, traffic: Traffic, *, buckets: int, seed: int = 1,
              pool: int = VARIANCE_BUCKETS) -> NoChange:  # fmt: skip
    """``pool``: buckets the variance of means is estimated from (the rule's window, at least 7 hours)."""
    rng = random.Random(seed)
    run = Run(test, pool)
    breaches = breached = 0
    was: Severity | None = None
    for _ in range(buckets):
        now = run.step(draw_bucket(test.indicator, truth, traffic, rng))
        breaches += int(was is None and now is not None)
        breached += int(now is not None)
        was = now
    return NoChange(buckets, breaches, breached)


@dataclass(frozen=True)
class Delays:
    """Buckets from a shift to the first breach, per run that was not in a breach when the shift came."""

    buckets: tuple[int | None, ...]  # None: not detected within the horizon
    horizon: int

    @property
    def detected(self) -> int:
        return sum(b is not None for b in self.buckets)

    def quantile_minutes(self, q: float) -> float | None:
        """The q-quantile of the delay in minutes (an undetected run counts as beyond the horizon); None when
        that quantile is beyond it."""
        if not self.buckets:
            return None
        ranked = sorted(b if b is not None else math.inf for b in self.buckets)
        value = ranked[min(len(ranked) - 1, max(0, math.ceil(q * len(ranked)) - 1))]
        return None if math.isinf(value) else value * 5.0

    @property
    def median_minutes(self) -> float | None:
        return self.quantile_minutes(0.5)


def delays(test: Test, before: float, after: float, traffic: Traffic, *, runs: int, horizon: int,
           warm_up: int = BUCKETS_PER_DAY, seed: int = 1, pool: int = VARIANCE_BUCKETS) -> Delays:  # fmt: skip
    """Each run: ``warm_up`` buckets at ``before``, then at ``after`` until the first breach (or ``horizon``
    buckets)."""
    rng = random.Random(seed)
    out: list[int | None] = []
    for _ in range(runs):
        run = Run(test, pool)
        state: Severity | None = None
        for _ in range(warm_up):
            state = run.step(draw_bucket(test.indicator, before, traffic, rng))
        if state is not None:
            continue  # a false breach open at the shift: no delay to measure
        found: int | None = None
        for i in range(1, horizon + 1):
            if run.step(draw_bucket(test.indicator, after, traffic, rng)) is not None:
                found = i
                break
        out.append(found)
    return Delays(tuple(out), horizon)


def typical_variance(indicator: Indicator, value: float, traffic: Traffic) -> float:
    """The per-answer variance of the simulated answers at ``value`` (what the budget assumes for means)."""
    if indicator in SHARES:
        p = min(1.0, max(0.0, value / 100))
        return max(p * (1 - p), 1e-4) * 100 * 100
    if indicator is Indicator.NPS:
        rest = 1 - traffic.passives
        return 100 * 100 * (rest - (value / 100) ** 2)
    if indicator is Indicator.CES:
        return traffic.sd**2
    return value**2 * math.expm1(traffic.sigma**2)


@dataclass(frozen=True)
class Cost:
    """What one rule's first level costs in one scope, by Siegmund's approximation: false breaches when the
    truth sits ``no_change`` on the good side, at the declared worst case and at a given volume, and the
    detection time of a process sitting at the level."""

    h: float
    worst_per_day: float
    per_day: float
    detect_minutes: float


def cost(test: Test, traffic: Traffic) -> Cost:
    from cxstream.domain.alerting.cusum import arl0, arl1, information, worst_arl0

    severity = Severity.WARNING if Severity.WARNING in test.levels else Severity.CRITICAL
    hyp = test.levels[severity]
    variance = max(typical_variance(test.indicator, (hyp.bad + hyp.good) / 2, traffic), (test.distance / 2) ** 2)
    k = information(traffic.per_bucket, hyp.bad, hyp.good, variance)
    return Cost(test.h, BUCKETS_PER_DAY / worst_arl0(test.h), BUCKETS_PER_DAY / arl0(test.h, k), 5.0 * arl1(test.h, k))
