"""Did the fix work? A rolled-out change's target metrics in the scopes it touched, before against after, with the
difference, its interval and a test, and a verdict only once the sample is large enough to see the smallest
effect worth detecting (``remediation.verdict``): "verified: CSAT +7.1 points, 95 % CI [3.2, 11.0], n 412 / 398",
or "not yet: need about 300 more answers".

The comparison is a method behind one interface (:class:`ComparisonMethod`): :class:`PrePost` compares the two
periods as they are. A seasonality- and control-adjusted method (difference-in-differences against control
scopes) plugs in beside it.

- Shares (CSAT top-2-box, CES easy answers, SLA compliance, reopened tickets): the difference's interval is
  Newcombe's hybrid score interval (his method 10: from the two Wilson intervals), the test the pooled
  two-proportion z-test.
- NPS: the difference of two NPS with the variance of the design notes, (p + d - (p - d)^2) / n each, normal.
- The sample a verdict needs, per side: two proportions at the baseline share and the baseline plus the minimum
  effect, Cohen's h, n = 2 ((z_(1-alpha/2) + z_power) / h)^2; for NPS the normal approximation with its variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Protocol

from cxstream.domain.metrics.spec import Indicator, MetricDefinition
from cxstream.domain.metrics.stats import Sufficient, wilson
from cxstream.domain.remediation.spec import VerdictSpec


@dataclass(frozen=True)
class Measured:
    """What a verdict compares of one period: a share (hits of n) or an NPS (promoters and detractors of n)."""

    kind: str  # share or nps
    label: str  # e.g. "CSAT (share of 4-5)"
    hits: int
    n: int
    detractors: int = 0  # NPS only
    higher_is_better: bool = True

    @property
    def value(self) -> float | None:
        if not self.n:
            return None
        return (self.hits - self.detractors) / self.n if self.kind == "nps" else self.hits / self.n


def measured(definition: MetricDefinition, stats: Sufficient) -> Measured | None:
    """The quantity a verdict compares for a definition, or None for one it does not judge (a count, a mean)."""
    indicator = definition.indicator
    if indicator is Indicator.CSAT:
        return Measured("share", "CSAT", stats.count_between(4, 5), stats.responses)
    if indicator is Indicator.CES:
        return Measured("share", "easy answers (CES 5-7)", stats.count_between(5, 7), stats.responses)
    if indicator is Indicator.NPS:
        return Measured("nps", "NPS", stats.count_between(9, 10), stats.responses, stats.count_between(0, 6))
    if indicator is Indicator.REOPEN_RATE:
        return Measured("share", "reopened tickets", stats.hits, stats.n, higher_is_better=False)
    if definition.sla is not None:
        return Measured("share", "within the SLA", stats.hits, stats.n)
    return None


@dataclass(frozen=True)
class Comparison:
    method: str
    metric: str
    label: str
    before: float | None  # as a share or an NPS fraction
    after: float | None
    n_before: int
    n_after: int
    difference: float | None  # after - before, in points (percentage points; NPS points)
    low: float | None
    high: float | None
    p_value: float | None
    needed: int | None  # per side, to see the minimum effect
    decision: str  # verified, failed, not yet
    summary: str
    confidence: float


class ComparisonMethod(Protocol):
    name: str

    def compare(self, definition: MetricDefinition, before: Sufficient, after: Sufficient,
                spec: VerdictSpec) -> Comparison: ...  # fmt: skip


def newcombe(hits1: int, n1: int, hits2: int, n2: int, confidence: float) -> tuple[float, float, float]:
    """p2 - p1 with Newcombe's hybrid score interval (method 10, from the two Wilson intervals)."""
    p1, p2 = hits1 / n1, hits2 / n2
    l1, u1 = wilson(hits1, n1, confidence)
    l2, u2 = wilson(hits2, n2, confidence)
    d = p2 - p1
    return d, d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def two_proportion_p(hits1: int, n1: int, hits2: int, n2: int) -> float:
    pooled = (hits1 + hits2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (hits2 / n2 - hits1 / n1) / se
    return 2 * (1 - NormalDist().cdf(abs(z)))


def needed_per_side(p: float, effect: float, higher_is_better: bool, alpha: float, power: float) -> int:
    """:func:`sample_size` rounded up: the answers each side needs."""
    return math.ceil(sample_size(p, effect, higher_is_better, alpha, power))


def sample_size(p: float, effect: float, higher_is_better: bool, alpha: float, power: float) -> float:
    """Sample size per group to detect a change of ``effect`` from the share ``p``: with Cohen's h, the arcsine
    difference 2 asin(sqrt p2) - 2 asin(sqrt p1), whose estimate has variance 1/n1 + 1/n2, n = 2 ((z_a + z_b) / h)^2
    (what statsmodels' NormalIndPower gives for effect size h and equal groups)."""
    target = min(0.999, p + effect) if higher_is_better else max(0.001, p - effect)
    h = abs(2 * math.asin(math.sqrt(target)) - 2 * math.asin(math.sqrt(min(max(p, 0.0), 1.0))))
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return 2 * (z / h) ** 2 if h > 0 else 0.0


def _nps_var(m: Measured) -> float:
    p, d = m.hits / m.n, m.detractors / m.n
    return max(0.0, p + d - (p - d) ** 2)


class PrePost:
    """The two periods as they are: no adjustment for seasonality or for what changed elsewhere."""

    name = "pre/post"

    def compare(self, definition: MetricDefinition, before: Sufficient, after: Sufficient,
                spec: VerdictSpec) -> Comparison:  # fmt: skip
        old, new = measured(definition, before), measured(definition, after)
        if old is None or new is None:
            raise ValueError(f"{definition.id}: a verdict compares shares and NPS, not {definition.indicator.value}")
        alpha = 1 - spec.confidence
        label = f"{definition.title} ({new.label})"
        if not old.n or not new.n:
            missing = "before" if not old.n else "after"
            return Comparison(self.name, definition.id, label, old.value, new.value, old.n, new.n, None, None, None,
                              None, None, "not yet", f"not yet: no answers {missing} the rollout",
                              spec.confidence)  # fmt: skip
        if old.kind == "nps":
            d = (new.value or 0.0) - (old.value or 0.0)
            se = math.sqrt(_nps_var(old) / old.n + _nps_var(new) / new.n)
            z = NormalDist().inv_cdf(1 - alpha / 2)
            low, high = d - z * se, d + z * se
            p_value = 2 * (1 - NormalDist().cdf(abs(d / se))) if se > 0 else 1.0
            zz = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(spec.power)
            needed = math.ceil(2 * _nps_var(old) * (zz / spec.min_effect) ** 2) if _nps_var(old) > 0 else 0
        else:
            d, low, high = newcombe(old.hits, old.n, new.hits, new.n, spec.confidence)
            p_value = two_proportion_p(old.hits, old.n, new.hits, new.n)
            needed = needed_per_side(old.hits / old.n, spec.min_effect, old.higher_is_better, alpha, spec.power)
        better = d if new.higher_is_better else -d
        better_low = low if new.higher_is_better else -high
        points = f"{100 * d:+.1f} points, {round(100 * spec.confidence)} % CI [{100 * low:.1f}, {100 * high:.1f}]"
        sizes = f"n {old.n} / {new.n}"
        if old.n < needed or new.n < needed:
            more = max(needed - new.n, 0) + max(needed - old.n, 0)
            decision = "not yet"
            summary = f"not yet: need about {more} more answers ({sizes}; {needed} a side to see " \
                      f"{100 * spec.min_effect:.0f} points); so far {points}"  # fmt: skip
        elif better_low > 0:
            decision, summary = "verified", f"verified: {definition.title} {points}, {sizes}"
        else:
            decision = "failed"
            how = "worse" if better < 0 and p_value < alpha else "no clear improvement"
            summary = f"failed ({how}): {definition.title} {points}, {sizes}"
        return Comparison(self.name, definition.id, label, old.value, new.value, old.n, new.n, 100 * d, 100 * low,
                          100 * high, p_value, needed, decision, summary, spec.confidence)  # fmt: skip


def overall(decisions: list[str]) -> str:
    """An item's verdict from its comparisons: verified when every one is, failed when every one is decided and
    one failed, else not yet."""
    if not decisions or "not yet" in decisions:
        return "not yet"
    return "verified" if all(d == "verified" for d in decisions) else "failed"
