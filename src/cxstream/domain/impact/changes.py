"""The impact of a change rolled out to one scope (a region, a site, a team), from the metric history's closed days:
the unadjusted pre/post beside the difference-in-differences against control scopes (declared, or matched on the
pre-period) with its parallel-trend checks, and a counterfactual forecast of the treated scope from the controls
and the weekday. The headline is the adjusted effect (the counterfactual when it fits, else the DiD), in points,
with its interval and its method named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.impact.did import (
    Counterfactual,
    Estimate,
    ParallelTrends,
    counterfactual,
    did_daily,
    match_controls,
    mean_series,
    parallel_trends,
    pre_post,
)
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient
from cxstream.domain.remediation.verdict import measured

Scope = Mapping[str, str]


def scope_text(where: Scope) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(where.items())) or "everywhere"


def daily(index: HistoryIndex, metrics: MetricsSpec, metric: str, where: Scope, start_ms: int, end_ms: int,
          min_n: int) -> dict[int, float]:  # fmt: skip
    """Each closed day's value in points (a share x 100, or NPS), days with fewer than ``min_n`` answers left out."""
    definition = metrics.definition(metric)
    days: dict[int, Sufficient] = {}
    for fact in index.facts(metric, DAY_MS, start_ms, end_ms):
        if fact.within(where):
            days.setdefault(fact.key.start_ms, Sufficient()).merge(fact.stats)
    out = {}
    for day, stats in sorted(days.items()):
        m = measured(definition, stats)
        if m is not None and m.value is not None and m.n >= min_n:
            out[day] = 100 * m.value
    return out


def candidates(index: HistoryIndex, metric: str, dimension: str, start_ms: int, end_ms: int) -> list[str]:
    """The values of ``dimension`` the history holds for the metric in the span (other regions, other sites)."""
    seen = {f.value_of(dimension) for f in index.facts(metric, DAY_MS, start_ms, end_ms)}
    return sorted(v for v in seen if v and v != "-")


@dataclass(frozen=True)
class ChangeImpact:
    metric: str
    label: str
    treated: Scope
    rollout_ms: int
    controls: tuple[Scope, ...]
    matched: bool  # the controls were chosen by their pre-period fit, not declared
    naive: Estimate | None
    did: Estimate | None
    trends: ParallelTrends | None
    forecast: Counterfactual | None
    treated_days: Mapping[int, float]
    control_days: Mapping[int, float]  # the controls' mean

    @property
    def adjusted(self) -> Estimate | None:
        """The headline: the counterfactual when it could be fitted, else the difference-in-differences."""
        return self.forecast.estimate if self.forecast is not None else self.did

    @property
    def summary(self) -> str:
        head = self.adjusted
        if head is None:
            return "not enough closed days with enough answers on both sides of the rollout"
        naive = f"; beside it, {self.naive.summary}" if self.naive is not None else ""
        return f"{head.summary}{naive}"


def change_impact(index: HistoryIndex, metrics: MetricsSpec, metric: str, treated: Scope, rollout_ms: int, *,
                  controls: Sequence[Scope] | None = None, days_before: int = 56, days_after: int = 28,
                  now_ms: int, min_n: int = 20, alpha: float = 0.05, k: int = 3) -> ChangeImpact:  # fmt: skip
    if len(treated) != 1:
        raise ValueError("the treated scope is one dimension and value, e.g. region=emea")
    start = rollout_ms - days_before * DAY_MS
    end = min(rollout_ms + days_after * DAY_MS, now_ms - now_ms % DAY_MS)
    definition = metrics.definition(metric)
    probe = measured(definition, Sufficient())
    if probe is None:
        raise ValueError(f"{metric} is not a share or NPS an impact estimate can compare")
    [(dimension, value)] = treated.items()
    if dimension not in definition.dimensions:
        raise ValueError(f"{metric} does not keep {dimension}")
    series = daily(index, metrics, metric, treated, start, end, min_n)
    matched = controls is None
    if controls is None:
        pool = {v: daily(index, metrics, metric, {dimension: v}, start, end, min_n)
                for v in candidates(index, metric, dimension, start, end) if v != value}  # fmt: skip
        chosen = match_controls(series, pool, rollout_ms, k)
        controls = [{dimension: v} for v in chosen]
        control_series = [pool[v] for v in chosen]
    else:
        control_series = [daily(index, metrics, metric, c, start, end, min_n) for c in controls]
    control_days = mean_series(control_series) if control_series else {}
    did = did_daily(series, control_days, rollout_ms, alpha) if control_days else None
    trends = parallel_trends(series, control_days, rollout_ms, alpha) if control_days else None
    forecast = counterfactual(series, control_series, rollout_ms, alpha) if control_series else None
    return ChangeImpact(metric, probe.label, dict(treated), rollout_ms, tuple(dict(c) for c in controls), matched,
                        pre_post(series, rollout_ms, alpha), did, trends, forecast, series, control_days)  # fmt: skip


def item_impacts(rollouts: Sequence[tuple[Scope, int]], target_metrics: Sequence[str], index: HistoryIndex,
                 metrics: MetricsSpec, now_ms: int, alpha: float = 0.05) -> list[ChangeImpact]:  # fmt: skip
    """A rolled-out change's effect per rollout and target metric, adjusted by control scopes (the remediation
    verdict's pre/post beside it): rollouts to one scope (a site, a region) that the metric keeps, once at least
    three days have closed after them. Estimates that cannot be made are left out."""
    out = []
    for scope, at_ms in rollouts:
        if len(scope) != 1 or now_ms - at_ms < 4 * DAY_MS:
            continue
        day = at_ms - at_ms % DAY_MS
        for metric in target_metrics:
            try:
                found = change_impact(index, metrics, metric, scope, day, now_ms=now_ms, alpha=alpha)
            except (KeyError, ValueError):
                continue
            if found.adjusted is not None:
                out.append(found)
    return out
