"""The sequential test behind threshold rules: a CUSUM of log-likelihood ratios per level, fed one
non-overlapping 5-minute bucket at a time, with its threshold derived from a declared false-alarm rate.

For a level ``L`` with a "no change" distance ``d`` (direction BELOW: *good* is ``L + d``, *bad* is ``L``),
each bucket adds its log-likelihood ratio of bad against good, ``llr``:

* shares (CSAT top-2-box, rates): exact Bernoulli, ``k ln(p_bad / p_good) + (n - k) ln((1 - p_bad) / (1 - p_good))``;
* means (NPS points, CES, durations): normal, ``n (bad - good) / s2 * (mean - (bad + good) / 2)`` with the
  per-answer variance ``s2`` of the rule's window.

While the level is not breached, ``up = max(0, up + llr)`` and the level becomes breached when ``up >= h``;
once breached, ``down = max(0, down - llr)`` and it clears when ``down >= h``: resolving needs the same
evidence, in the other direction, as firing (the hysteresis is the distance ``d``). Buckets without answers
add nothing; no streak survives on windows that say nothing.

The threshold ``h`` comes from the declared in-control average run length (buckets between false breaches
when the truth sits ``d`` on the good side): Siegmund's approximation of the CUSUM run length,
``ARL0 = (e^b - b - 1) / (K / 2)`` with ``b = h + 1.166 sqrt(K)`` and ``K`` the information per bucket, is
solved for the smallest ``h`` whose ARL0 is at least the target *whatever the volume* (its minimum over
``K``), so the budget holds at any number of answers per bucket (within a few per cent: see the tests'
simulations).

Pure: no clock, no Kafka.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

SIEGMUND = 1.166  # the overshoot correction of Siegmund (1985), in standard deviations of one step
_K_GRID = tuple(10 ** (i / 40) for i in range(-160, 161))  # information per bucket, 1e-4 .. 1e4
P_FLOOR = 1e-4  # shares are kept inside (0, 1) so every log-likelihood ratio is finite


@dataclass(frozen=True)
class Observation:
    """One bucket of one scope, as the test reads it: ``n`` answers (or measurements, or trials), their mean in
    the metric's unit, and for shares the number of hits."""

    n: int
    mean: float
    hits: int | None = None  # set for shares: the mean is then 100 * hits / n


def share_llr(hits: int, n: int, bad: float, good: float) -> float:
    """Bernoulli log-likelihood ratio of ``hits`` of ``n`` at ``bad`` against ``good`` (shares in percent)."""
    p1 = min(1 - P_FLOOR, max(P_FLOOR, bad / 100))
    p0 = min(1 - P_FLOOR, max(P_FLOOR, good / 100))
    return hits * math.log(p1 / p0) + (n - hits) * math.log((1 - p1) / (1 - p0))


def mean_llr(n: int, mean: float, bad: float, good: float, variance: float) -> float:
    """Normal log-likelihood ratio of ``n`` values with this mean, at ``bad`` against ``good``."""
    return n * (bad - good) / variance * (mean - (bad + good) / 2)


def llr(observation: Observation, bad: float, good: float, variance: float | None) -> float:
    """The evidence one bucket adds for ``bad`` against ``good``: positive says bad. Zero without answers,
    and for a mean without a variance to judge it by."""
    if observation.n <= 0:
        return 0.0
    if observation.hits is not None:
        return share_llr(observation.hits, observation.n, bad, good)
    if variance is None or variance <= 0:
        return 0.0
    return mean_llr(observation.n, observation.mean, bad, good, variance)


def information(n: float, bad: float, good: float, variance: float) -> float:
    """``K`` of one bucket of ``n`` answers: the variance of its ratio (twice the Kullback-Leibler distance)."""
    return n * (bad - good) ** 2 / variance


def share_variance(bad: float, good: float) -> float:
    """The per-answer variance of a share, in percent squared, midway between the two hypotheses."""
    p = min(1 - P_FLOOR, max(P_FLOOR, (bad + good) / 200))
    return p * (1 - p) * 100 * 100


def arl0(h: float, k: float) -> float:
    """Buckets between false breaches at the good value (Siegmund's approximation), ``k`` per bucket."""
    b = h + SIEGMUND * math.sqrt(k)
    return (math.expm1(b) - b) / (k / 2)


def arl1(h: float, k: float) -> float:
    """Buckets to detect a process sitting exactly at the bad value, from a clean start (Siegmund)."""
    b = h + SIEGMUND * math.sqrt(k)
    return (math.exp(-b) + b - 1) / (k / 2)


def worst_arl0(h: float) -> float:
    """The fewest buckets between false breaches over every volume: the budget that holds at any."""
    return min(arl0(h, k) for k in _K_GRID)


@lru_cache(maxsize=256)
def threshold_for(buckets: float) -> float:
    """The smallest ``h`` with no more than one false breach per ``buckets`` buckets at any volume."""
    if buckets <= 1:
        raise ValueError("a false-alarm budget must allow more than one bucket between false breaches")
    low, high = 0.0, 60.0  # worst_arl0 rises with h: bisect to 1e-9
    while high - low > 1e-9:
        mid = (low + high) / 2
        low, high = (mid, high) if worst_arl0(mid) < buckets else (low, mid)
    return high


@dataclass(frozen=True)
class LevelState:
    """One level's test: ``up`` gathers evidence that the level is breached, ``down`` that it is back."""

    up: float = 0.0
    down: float = 0.0
    breached: bool = False

    def step(self, evidence: float, h: float) -> LevelState:
        if not self.breached:
            up = max(0.0, self.up + evidence)
            return LevelState(breached=True) if up >= h else LevelState(up=up)
        down = max(0.0, self.down - evidence)
        return LevelState() if down >= h else LevelState(down=down, breached=True)

    @property
    def evidence(self) -> float:
        """The statistic being accumulated: towards breaching, or towards clearing once breached."""
        return self.down if self.breached else self.up

    def to_json(self) -> list[float | bool]:
        return [round(self.up, 9), round(self.down, 9), self.breached]

    @classmethod
    def from_json(cls, data: object) -> LevelState:
        if not isinstance(data, list | tuple) or len(data) != 3:
            raise ValueError(f"a level state is [up, down, breached], not {data!r}")
        up, down, breached = data
        return cls(float(up), float(down), bool(breached))
