"""The priority of a remediation item, from a declared formula: RICE-style

    score = reach^wr x impact^wi x confidence^wc / effort^we

- reach: affected customers per week, each weighted by the value of their segment (with its interval: the
  score is given at both ends too, since it rises with reach);
- impact: the severity (1-10);
- confidence: 1 - risk (risk: the chance the fix does not work or harms);
- effort: the cost to fix in person-weeks.

The weights are configuration (``remediation.priority``); the score comes with its components and the part of
the log-score each contributes, so a reader sees why one item ranks above another. It rises with reach,
impact and confidence and falls with effort and risk (tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from cxstream.domain.remediation.spec import PrioritySpec


@dataclass(frozen=True)
class Impact:
    """What the formula needs to know of an item."""

    reach: float  # affected customers per week (point estimate)
    reach_low: float
    reach_high: float
    segments: Mapping[str, float]  # share of the affected customers per segment (sums to 1; empty: default)
    severity: int  # 1-10
    cost_weeks: float  # person-weeks
    risk: float  # 0 <= risk < 1


@dataclass(frozen=True)
class Component:
    name: str
    value: float
    weight: float
    log_share: float  # this component's part of |log score| (signed: effort lowers the score)


@dataclass(frozen=True)
class Priority:
    score: float
    score_low: float  # at the reach interval's lower end
    score_high: float
    components: tuple[Component, ...]


def segment_value(spec: PrioritySpec, segments: Mapping[str, float]) -> float:
    """The mean value of one affected customer over the segment mix (the default value for no mix)."""
    total = math.fsum(segments.values())
    if total <= 0:
        return spec.default_segment_value
    valued = (share * spec.segment_value.get(s, spec.default_segment_value) for s, share in segments.items())
    return math.fsum(valued) / total


def _score(spec: PrioritySpec, reach: float, impact: Impact) -> float:
    value = max(reach, 0.0) * segment_value(spec, impact.segments)
    return float(
        value**spec.reach
        * impact.severity**spec.impact
        * (1.0 - impact.risk) ** spec.confidence
        / impact.cost_weeks**spec.effort
    )


def priority(spec: PrioritySpec, impact: Impact) -> Priority:
    if not 1 <= impact.severity <= 10:
        raise ValueError(f"severity must be 1-10, got {impact.severity}")
    if impact.cost_weeks <= 0:
        raise ValueError("the cost to fix must be positive (person-weeks)")
    if not 0 <= impact.risk < 1:
        raise ValueError("risk is a chance, 0 <= risk < 1")
    parts = [
        ("reach", max(impact.reach, 0.0) * segment_value(spec, impact.segments), spec.reach, 1.0),
        ("impact", float(impact.severity), spec.impact, 1.0),
        ("confidence", 1.0 - impact.risk, spec.confidence, 1.0),
        ("effort", impact.cost_weeks, spec.effort, -1.0),
    ]
    logs = [sign * weight * math.log(value) if value > 0 else 0.0 for _, value, weight, sign in parts]
    total = math.fsum(abs(v) for v in logs)
    components = tuple(
        Component(name, value, weight, (log / total) if total > 0 else 0.0)
        for (name, value, weight, _), log in zip(parts, logs, strict=True)
    )
    return Priority(
        score=_score(spec, impact.reach, impact),
        score_low=_score(spec, impact.reach_low, impact),
        score_high=_score(spec, impact.reach_high, impact),
        components=components,
    )


def weekly_rate(count: int, days: float, confidence: float = 0.95) -> tuple[float, float, float]:
    """Affected customers per week from ``count`` seen in ``days``, with the exact Poisson (Garwood) interval."""
    from scipy.stats import chi2

    if days <= 0 or count < 0:
        raise ValueError("a rate needs a positive period and a count of zero or more")
    alpha = 1.0 - confidence
    low = 0.0 if count == 0 else float(chi2.ppf(alpha / 2, 2 * count)) / 2
    high = float(chi2.ppf(1 - alpha / 2, 2 * count + 2)) / 2
    per_week = 7.0 / days
    return count * per_week, low * per_week, high * per_week
