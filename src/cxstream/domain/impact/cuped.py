"""CUPED (Deng et al., 2013): less variance from each unit's pre-period value. With Y the outcome and X the same
unit's value before the experiment, theta = cov(Y, X) / var(X) (pooled over the arms) and the adjusted outcome
Y - theta (X - mean X) has the same expected difference between arms and the variance var(Y) (1 - rho^2), rho the
correlation of Y and X. The variance reduction achieved is reported with the effect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Cuped:
    theta: float
    x_mean: float
    variance_reduction: float  # 1 - var(adjusted) / var(Y), on the data given
    n: int

    def adjust(self, y: float, x: float) -> float:
        return y - self.theta * (x - self.x_mean)


def fit(y: Sequence[float], x: Sequence[float]) -> Cuped:
    """theta from the units that have both values (all arms together)."""
    if len(y) != len(x) or len(y) < 3:
        raise ValueError("CUPED needs the outcome and the pre-period value of at least three units")
    ys, xs = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    var_x = float(np.var(xs, ddof=1))
    if var_x == 0:
        return Cuped(0.0, float(xs.mean()), 0.0, len(ys))
    theta = float(np.cov(ys, xs, ddof=1)[0, 1]) / var_x
    adjusted = ys - theta * (xs - xs.mean())
    var_y = float(np.var(ys, ddof=1))
    reduction = 1 - float(np.var(adjusted, ddof=1)) / var_y if var_y > 0 else 0.0
    return Cuped(theta, float(xs.mean()), reduction, len(ys))
