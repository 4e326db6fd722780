"""The effect of a change rolled out to some scopes, adjusted for what happened everywhere else.

A change rolled out to a region or to sites is a quasi-experiment: the scopes that did not get it are the control.
Three estimates are shown side by side, each naming its method:

- **pre/post** (unadjusted): the treated scope's mean after minus before; a seasonal swing or a market shift
  lands in it whole;
- **difference-in-differences**: (treated after - before) - (control after - before). From group means
  (23.38 -> 21.10 control, 20.43 -> 20.90 treated gives 2.75); on daily series it is the regression of the
  daily treated-minus-control gap on an after-rollout indicator, with Newey-West (HAC) standard errors so that
  days that resemble their neighbours do not pass for independent evidence. The weekly and yearly patterns the
  scopes share cancel in the gap. Parallel trends are checked on the pre-period: the gap's slope, and a placebo
  rollout half-way through the pre-period that should find nothing;
- **counterfactual forecast**: the treated series regressed on the control scopes' series and the day of the week
  over the pre-period (ordinary least squares), predicted over the after-period with prediction intervals; the
  effect is actual minus predicted, its interval from the prediction's uncertainty and the residual noise.

Controls are declared, or matched automatically: the candidate scopes whose pre-period series track the treated
one best (smallest root-mean-square gap after removing each series' mean).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import statsmodels.api as sm

DAY_MS = 86_400_000
Series = Mapping[int, float]  # day (epoch ms at midnight UTC) -> the day's value


def from_means(control: tuple[float, float], treated: tuple[float, float]) -> float:
    """(treated after - treated before) - (control after - control before)."""
    return (treated[1] - treated[0]) - (control[1] - control[0])


@dataclass(frozen=True)
class Estimate:
    method: str
    effect: float
    low: float
    high: float
    p: float | None
    days_before: int
    days_after: int

    @property
    def summary(self) -> str:
        p = f", p {self.p:.3f}" if self.p is not None else ""
        return (f"{self.method}: {self.effect:+.2f} (95 % CI {self.low:+.2f} to {self.high:+.2f}{p}; "
                f"{self.days_before} days before, {self.days_after} after)")  # fmt: skip


@dataclass(frozen=True)
class ParallelTrends:
    slope: float  # of the pre-period gap, per day
    slope_p: float
    placebo: Estimate | None  # a rollout faked half-way through the pre-period
    holds: bool  # neither the slope nor the placebo is significant at alpha

    @property
    def summary(self) -> str:
        placebo = f"; placebo {self.placebo.effect:+.2f} (p {self.placebo.p:.3f})" if self.placebo and \
            self.placebo.p is not None else ""  # fmt: skip
        verdict = "parallel trends hold" if self.holds else "parallel trends doubtful: read the effect with care"
        return f"pre-period gap slope {self.slope:+.3f}/day (p {self.slope_p:.3f}){placebo}; {verdict}"


def _aligned(a: Series, b: Series) -> list[int]:
    return sorted(set(a) & set(b))


def _hac(y: np.ndarray, x: np.ndarray, lags: int) -> tuple[float, float, float, float]:
    """OLS of y on [1, x]: the slope, its HAC standard error, p, and the residual dof."""
    model = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit(cov_type="HAC",
                                                                     cov_kwds={"maxlags": lags})  # fmt: skip
    return float(model.params[1]), float(model.bse[1]), float(model.pvalues[1]), float(model.df_resid)


def _lags(n: int) -> int:
    """Newey-West's rule of thumb, at least a week when the series is long enough."""
    return max(1, min(7, int(4 * (n / 100) ** (2 / 9))))


def pre_post(treated: Series, rollout_ms: int, alpha: float = 0.05) -> Estimate | None:
    days = sorted(treated)
    before = np.array([treated[d] for d in days if d < rollout_ms])
    after = np.array([treated[d] for d in days if d >= rollout_ms])
    if len(before) < 2 or len(after) < 2:
        return None
    x = np.array([0.0] * len(before) + [1.0] * len(after))
    slope, se, p, _ = _hac(np.concatenate([before, after]), x, _lags(len(x)))
    z = _z(alpha)
    return Estimate("pre/post (unadjusted)", slope, slope - z * se, slope + z * se, p, len(before), len(after))


def did_daily(treated: Series, control: Series, rollout_ms: int, alpha: float = 0.05) -> Estimate | None:
    """Difference-in-differences on daily series: the gap's mean after minus before, HAC standard errors."""
    days = _aligned(treated, control)
    gap = np.array([treated[d] - control[d] for d in days])
    post = np.array([1.0 if d >= rollout_ms else 0.0 for d in days])
    if post.sum() < 2 or (1 - post).sum() < 2:
        return None
    slope, se, p, _ = _hac(gap, post, _lags(len(days)))
    z = _z(alpha)
    return Estimate("difference-in-differences", slope, slope - z * se, slope + z * se, p, int((1 - post).sum()),
                    int(post.sum()))  # fmt: skip


def parallel_trends(treated: Series, control: Series, rollout_ms: int, alpha: float = 0.05) -> ParallelTrends | None:
    days = [d for d in _aligned(treated, control) if d < rollout_ms]
    if len(days) < 6:
        return None
    gap = np.array([treated[d] - control[d] for d in days])
    t = np.array([(d - days[0]) / DAY_MS for d in days])
    slope, _, p, _ = _hac(gap, t, _lags(len(days)))
    middle = days[len(days) // 2]
    placebo = did_daily({d: treated[d] for d in days}, {d: control[d] for d in days}, middle, alpha)
    holds = p >= alpha and (placebo is None or placebo.p is None or placebo.p >= alpha)
    return ParallelTrends(slope, p, placebo, holds)


@dataclass(frozen=True)
class Counterfactual:
    estimate: Estimate
    days: tuple[int, ...]  # the after-period days
    actual: tuple[float, ...]
    predicted: tuple[float, ...]
    low: tuple[float, ...]  # each day's prediction interval
    high: tuple[float, ...]
    r2: float  # of the pre-period fit


def _design(days: Sequence[int], controls: Sequence[Series]) -> np.ndarray:
    weekday = [datetime.fromtimestamp(d / 1000, UTC).weekday() for d in days]
    dummies = [[1.0 if w == k else 0.0 for k in range(1, 7)] for w in weekday]  # Monday is the base
    columns = [[c[d] for c in controls] for d in days]
    return np.array([[1.0, *cols, *dow] for cols, dow in zip(columns, dummies, strict=True)])


def counterfactual(treated: Series, controls: Sequence[Series], rollout_ms: int,
                   alpha: float = 0.05) -> Counterfactual | None:  # fmt: skip
    """The treated series as the controls and the weekday predicted it, fitted before the rollout."""
    days = sorted(set(treated).intersection(*[set(c) for c in controls]))
    before = [d for d in days if d < rollout_ms]
    after = [d for d in days if d >= rollout_ms]
    x_before = _design(before, controls)
    if len(after) < 2 or len(before) < x_before.shape[1] + 5:
        return None
    fit = sm.OLS(np.array([treated[d] for d in before]), x_before).fit()
    x_after = _design(after, controls)
    frame = fit.get_prediction(x_after).summary_frame(alpha=alpha)
    actual = np.array([treated[d] for d in after])
    predicted = frame["mean"].to_numpy()
    effect = float((actual - predicted).mean())
    mean_x = x_after.mean(axis=0)
    var = float(mean_x @ fit.cov_params() @ mean_x) + float(fit.scale) / len(after)
    z = _z(alpha)
    half = z * math.sqrt(max(var, 0.0))
    p = float(2 * (1 - _normal_cdf(abs(effect) / math.sqrt(var)))) if var > 0 else None
    estimate = Estimate("counterfactual from control scopes and weekday", effect, effect - half, effect + half, p,
                        len(before), len(after))  # fmt: skip
    return Counterfactual(estimate, tuple(after), tuple(actual.tolist()), tuple(predicted.tolist()),
                          tuple(frame["obs_ci_lower"].tolist()), tuple(frame["obs_ci_upper"].tolist()),
                          float(fit.rsquared))  # fmt: skip


def match_controls(treated: Series, candidates: Mapping[str, Series], rollout_ms: int, k: int = 3) -> list[str]:
    """The ``k`` candidates whose pre-period series track the treated one best (demeaned RMS gap)."""
    scored = []
    for name, series in candidates.items():
        days = [d for d in _aligned(treated, series) if d < rollout_ms]
        if len(days) < 7:
            continue
        a = np.array([treated[d] for d in days])
        b = np.array([series[d] for d in days])
        rms = float(np.sqrt((((a - a.mean()) - (b - b.mean())) ** 2).mean()))
        scored.append((rms, name))
    return [name for _, name in sorted(scored)[:k]]


def mean_series(series: Sequence[Series]) -> dict[int, float]:
    """The days all of them have, averaged (the control group as one series)."""
    if not series:
        return {}
    days = set(series[0]).intersection(*[set(s) for s in series[1:]])
    return {d: sum(s[d] for s in series) / len(series) for d in sorted(days)}


def _z(alpha: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(1 - alpha / 2)


def _normal_cdf(x: float) -> float:
    from statistics import NormalDist

    return NormalDist().cdf(x)
