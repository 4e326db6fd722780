"""Before an experiment: how many units each arm needs, and whether the arms got the traffic they should.

- Units per arm for two proportions: Cohen's h with the normal approximation, as statsmodels' NormalIndPower
  gives it (0.80 -> 0.85 at alpha 0.05 and power 0.8: 902 per arm; 0.50 -> 0.55: 1,565; 0.10 -> 0.12: 3,835).
- Sample-ratio mismatch: Pearson's chi-square of the units seen per arm against the declared allocation
  (scipy's ``chisquare``); an alarm below p 0.001 (44,000 against 45,000 on 50/50: chi-square 11.24, p 0.0008),
  the usual threshold of experimentation platforms: an SRM means the assignment or the logging is broken, and
  no effect read from such an experiment can be trusted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import chisquare

from cxstream.domain.remediation.verdict import sample_size

SRM_ALARM = 0.001


def per_arm(baseline: float, target: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Units each arm needs to detect a move of a share from ``baseline`` to ``target`` (two-sided ``alpha``)."""
    if not (0 < baseline < 1 and 0 < target < 1) or baseline == target:
        raise ValueError("baseline and target are two different shares between 0 and 1")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power are between 0 and 1")
    return math.ceil(sample_size(baseline, abs(target - baseline), target > baseline, alpha, power))


@dataclass(frozen=True)
class Srm:
    chi2: float
    p: float
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    alarm: bool  # p below the alarm level

    @property
    def summary(self) -> str:
        seen = " / ".join(f"{o:,}" for o in self.observed)
        verdict = "sample-ratio mismatch: the assignment or the logging is broken" if self.alarm else "no mismatch"
        return f"{seen} units against {' / '.join(f'{e:,.0f}' for e in self.expected)} expected: chi-square " \
               f"{self.chi2:.2f}, p {self.p:.4f}; {verdict}"  # fmt: skip


def srm(observed: Sequence[int], weights: Sequence[float], alarm: float = SRM_ALARM) -> Srm:
    """Pearson's chi-square of the units per arm against the allocation ``weights`` (any positive scale)."""
    if len(observed) != len(weights) or len(observed) < 2:
        raise ValueError("give the units of two or more arms and as many weights")
    if any(w <= 0 for w in weights) or any(o < 0 for o in observed):
        raise ValueError("weights are positive and counts are not negative")
    total = sum(observed)
    if total == 0:
        return Srm(0.0, 1.0, tuple(observed), tuple(0.0 for _ in weights), False)
    expected = [total * w / sum(weights) for w in weights]
    result = chisquare(list(observed), expected)
    chi2, p = float(result.statistic), float(result.pvalue)
    return Srm(chi2, p, tuple(observed), tuple(expected), p < alarm)


def parse_ratio(text: str, arms: int) -> list[float]:
    """``50/50`` or ``1:1:2`` -> weights; an empty text: equal weights."""
    if not text:
        return [1.0] * arms
    parts = text.replace(":", "/").split("/")
    try:
        weights = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"ratio {text!r}: numbers separated by / or :") from None
    if len(weights) != arms:
        raise ValueError(f"ratio {text!r} has {len(weights)} parts for {arms} arms")
    return weights
