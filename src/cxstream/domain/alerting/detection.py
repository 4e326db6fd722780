"""A threshold rule's sequential test in one scope (``method: cusum``, see :mod:`cxstream.domain.alerting.cusum`):
what a bucket of each indicator says, the two hypotheses of each level, and the state carried between
evaluations.

Late answers: the state is *settled* through the buckets that are final (ended, and their grace passed) and
each evaluation replays the buckets after that from the settled state, so an answer that arrives hours late
(within grace) still counts in the bucket it belongs to. The breach lifecycle follows the replayed result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cxstream.domain.alerting.cusum import LevelState, Observation, arl0, information, llr, share_variance
from cxstream.domain.alerting.records import Direction
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.metrics.spec import Indicator
from cxstream.domain.metrics.stats import Sufficient

SHARES = {Indicator.CSAT, Indicator.REOPEN_RATE}
SEVERITIES = (Severity.CRITICAL, Severity.WARNING)
VARIANCE_MIN_N = (
    30  # answers needed to estimate the spread of a mean indicator  # the order a verdict is read in: worst first
)


def observation(indicator: Indicator, stats: Sufficient) -> Observation:
    """One bucket as the test reads it, in the unit the levels are written in (percent, points, minutes...)."""
    if indicator is Indicator.CSAT:
        n, hits = stats.responses, stats.count_between(4, 5)
        return Observation(n, 100 * hits / n if n else 0.0, hits)
    if indicator is Indicator.REOPEN_RATE:
        hits = min(stats.hits, stats.n)  # reopens of tickets solved before the bucket: capped, as the rate is
        return Observation(stats.n, 100 * hits / stats.n if stats.n else 0.0, hits)
    if indicator is Indicator.NPS:
        n = stats.responses
        net = stats.count_between(9, 10) - stats.count_between(0, 6)
        return Observation(n, 100 * net / n if n else 0.0)
    if indicator is Indicator.CES:
        n = stats.responses
        return Observation(n, sum(s * c for s, c in stats.hist.items()) / n if n else 0.0)
    return Observation(stats.n, stats.mean)


def answer_variance(indicator: Indicator, stats: Sufficient) -> float | None:
    """The per-answer variance of a mean indicator (None for shares, and below two answers)."""
    if indicator in SHARES:
        return None
    if indicator is Indicator.NPS:
        n = stats.responses
        if n < 2:
            return None
        p, d = stats.count_between(9, 10) / n, stats.count_between(0, 6) / n
        return 100 * 100 * (p + d - (p - d) ** 2) * n / (n - 1)
    if indicator is Indicator.CES:
        n = stats.responses
        if n < 2:
            return None
        mean = sum(s * c for s, c in stats.hist.items()) / n
        return sum(c * (s - mean) ** 2 for s, c in stats.hist.items()) / (n - 1)
    return stats.m2 / (stats.n - 1) if stats.n >= 2 else None


@dataclass(frozen=True)
class Hypotheses:
    """A level's two values: ``bad`` (at the level) and ``good`` (``no_change`` on its good side)."""

    bad: float
    good: float

    @classmethod
    def of(cls, level: float, distance: float, direction: Direction) -> Hypotheses:
        return cls(level, level + distance if direction is Direction.BELOW else level - distance)


@dataclass(frozen=True)
class Test:
    """One rule in one scope: the hypotheses of each level, the threshold, the variance floor of means."""

    indicator: Indicator
    levels: Mapping[Severity, Hypotheses]
    h: float
    distance: float

    def variance(self, stats: Sufficient) -> float | None:
        """The per-answer variance to judge means by: None (no evidence from means) below
        :data:`VARIANCE_MIN_N` answers, and never below ``(no_change / 2)^2``, so that a few identical answers
        cannot make one bucket decisive."""
        n = stats.responses if self.indicator in (Indicator.NPS, Indicator.CES) else stats.n
        observed = answer_variance(self.indicator, stats) if n >= VARIANCE_MIN_N else None
        return None if observed is None else max(observed, (self.distance / 2) ** 2)

    def false_breaches_per_day(self, per_bucket: float, variance: float | None) -> float | None:
        """The false breaches a day this test expects at ``per_bucket`` answers per 5 minutes, were the truth
        ``no_change`` on the good side of its first level (Siegmund's approximation); None for a mean without
        a variance yet."""
        first = self.levels.get(Severity.WARNING) or self.levels.get(Severity.CRITICAL)
        if first is None or per_bucket <= 0:
            return 0.0
        if self.indicator in SHARES:
            variance = share_variance(first.bad, first.good)
        if variance is None:
            return None
        return 288 / arl0(self.h, information(per_bucket, first.bad, first.good, variance))

    def run(self, levels: Mapping[Severity, LevelState], buckets: list[Sufficient], variance: float | None
            ) -> dict[Severity, LevelState]:  # fmt: skip
        """The level states after ``buckets``, oldest first."""
        out = {s: levels.get(s, LevelState()) for s in self.levels}
        for stats in buckets:
            seen = observation(self.indicator, stats)
            if seen.n == 0:
                continue
            for severity, hyp in self.levels.items():
                out[severity] = out[severity].step(llr(seen, hyp.bad, hyp.good, variance), self.h)
        return out


def severity_of_levels(levels: Mapping[Severity, LevelState]) -> Severity | None:
    """The worst level breached, if any."""
    for severity in SEVERITIES:
        state = levels.get(severity)
        if state is not None and state.breached:
            return severity
    return None


@dataclass(frozen=True)
class Settled:
    """The test's state through ``through_ms`` (the end of the last final bucket folded in)."""

    through_ms: int
    levels: Mapping[Severity, LevelState] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"through_ms": self.through_ms, "levels": {s.value: v.to_json() for s, v in self.levels.items()}}

    @classmethod
    def from_json(cls, data: object) -> Settled:
        if not isinstance(data, Mapping):
            raise ValueError(f"a settled test state is an object, not {data!r}")
        levels = data.get("levels") or {}
        if not isinstance(levels, Mapping):
            raise ValueError("settled levels must be an object")
        return cls(int(data["through_ms"]), {Severity(k): LevelState.from_json(v) for k, v in levels.items()})
