"""Variance across locations from the metric history's closed days: per metric and day, a funnel plot of the
locations against all of them (over-dispersion handled), and per location a control chart of its last days with
the Nelson rules; a location outside the funnel's outer limit on the bad side, or a watched rule firing on its
latest day with that day on the bad side, is an execution gap.

Comparisons are counted: with L locations and M metrics, L x M funnel tests a day, each raising a false alarm
with chance (1 - alarm) / 2 on the bad side under no difference, plus the watched rules' own false-alarm rate
per point (estimated by simulation: :func:`rule_false_alarm_rate`). :func:`noise_budget` says how many gaps pure
noise would raise a day.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.locations.funnel import Funnel, FunnelPoint, SiteValue, funnel, nps_se, share_se
from cxstream.domain.locations.spc import PChart, Period, nelson, p_chart
from cxstream.domain.locations.spec import Locations
from cxstream.domain.metrics.spec import DAY_MS, MetricDefinition, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient, wilson
from cxstream.domain.remediation.verdict import Measured, measured


def site_days(index: HistoryIndex, definition: str, start_ms: int, end_ms: int) -> dict[str, dict[int, Sufficient]]:
    """site -> day start -> the day's statistics, for the closed days in [start, end)."""
    out: dict[str, dict[int, Sufficient]] = {}
    for fact in index.facts(definition, DAY_MS, start_ms, end_ms):
        site = fact.value_of("site")
        day = out.setdefault(site, {}).setdefault(fact.key.start_ms, Sufficient())
        day.merge(fact.stats)
    return out


@dataclass(frozen=True)
class SiteDay:
    site: str
    value: float | None  # share or NPS fraction; None: fewer units than min_n
    n: int
    low: float | None  # the value's own interval (Wilson for a share)
    high: float | None
    point: FunnelPoint | None  # where the funnel puts it


@dataclass(frozen=True)
class MetricFunnel:
    metric: str
    label: str
    day_ms: int
    higher_is_better: bool
    funnel: Funnel | None  # None: fewer than two locations with enough units
    sites: tuple[SiteDay, ...]
    unit_se: float = 0.0  # the standard error of one unit at the target: a location of n units has unit_se / sqrt(n)


def _unit_se(target_m: Measured) -> float:
    """The standard error of a single unit at the target (a location of n units: this / sqrt(n))."""
    p = target_m.hits / target_m.n
    if target_m.kind == "nps":
        d = target_m.detractors / target_m.n
        return math.sqrt(max(p + d - (p - d) ** 2, 0.0))
    return math.sqrt(max(p * (1 - p), 0.0))


def _value_and_se(m: Measured, target_m: Measured) -> tuple[float, float]:
    value = m.value or 0.0
    if m.kind == "nps":
        p, d = target_m.hits / target_m.n, target_m.detractors / target_m.n
        return value, nps_se(p, d, m.n)
    return value, share_se(target_m.hits / target_m.n, m.n)


def metric_funnel(definition: MetricDefinition, per_site: Mapping[str, Sufficient], sites: Sequence[str], day_ms: int,
                  min_n: int, confidence: float) -> MetricFunnel:  # fmt: skip
    """The funnel of one metric on one day over the declared ``sites``."""
    probe = measured(definition, Sufficient())
    if probe is None:
        raise ValueError(f"{definition.id}: locations are compared on shares and NPS, not {definition.indicator.value}")
    found = {s: measured(definition, per_site.get(s, Sufficient())) for s in sites}
    enough = {s: m for s, m in found.items() if m is not None and m.n >= min_n}
    total = Sufficient.merged(per_site.get(s, Sufficient()) for s in enough)
    target_m = measured(definition, total)
    result: Funnel | None = None
    unit_se = _unit_se(target_m) if target_m is not None and target_m.n else 0.0
    if len(enough) >= 2 and target_m is not None and target_m.n:
        values = []
        for site, enough_m in enough.items():
            value, se = _value_and_se(enough_m, target_m)
            values.append(SiteValue(site, value, enough_m.n, se))
        result = funnel(values, target_m.value or 0.0, bounded=probe.kind != "nps")
    points = {p.site: p for p in result.points} if result is not None else {}
    rows = []
    for site in sites:
        m = found[site]
        n = m.n if m is not None else 0
        if m is None or n < min_n:
            rows.append(SiteDay(site, None, n, None, None, None))
            continue
        if m.kind == "share":
            low, high = wilson(m.hits, m.n, confidence)
        else:
            half = NormalDist().inv_cdf(0.5 + confidence / 2) * nps_se(m.hits / m.n, m.detractors / m.n, m.n)
            low, high = (m.value or 0.0) - half, (m.value or 0.0) + half
        rows.append(SiteDay(site, m.value, n, low, high, points.get(site)))
    return MetricFunnel(definition.id, f"{definition.title} ({probe.label})", day_ms, probe.higher_is_better, result,
                        tuple(rows), unit_se)  # fmt: skip


def site_chart(definition: MetricDefinition, days: Mapping[int, Sufficient], day_starts: Sequence[int]) -> PChart:
    """A location's control chart over ``day_starts`` (oldest first): a p-chart of its shares (an NPS's
    promoters-minus-detractors is charted as the share of detractors, its bad side)."""
    periods = []
    for start in day_starts:
        m = measured(definition, days.get(start, Sufficient()))
        if m is None:
            periods.append(Period(0, 0))
        elif m.kind == "nps":
            periods.append(Period(m.detractors, m.n))
        else:
            periods.append(Period(m.hits, m.n))
    return p_chart(periods)


@dataclass(frozen=True)
class Gap:
    """An execution gap: a location and metric, why (the funnel, rules), and the evidence."""

    site: str
    metric: str
    day_ms: int
    value: float
    n: int
    low: float
    high: float
    target: float
    limit: float | None  # the funnel's outer limit on the bad side, when outside it
    rules: tuple[int, ...]  # watched Nelson rules firing on the day
    tau: float  # the funnel's random-effect standard deviation
    sites_compared: int
    summary: str


def _bad_side(point_z: float | None, higher_is_better: bool) -> bool:
    return point_z is not None and (point_z < 0 if higher_is_better else point_z > 0)


def gaps_for(metric_funnel_: MetricFunnel, charts: Mapping[str, PChart], spec: Locations,
             names: Mapping[str, str]) -> list[Gap]:  # fmt: skip
    """The execution gaps of one metric on its day."""
    f = metric_funnel_.funnel
    if f is None:
        return []
    watched = set(spec.variance.rules)
    out = []
    for row in metric_funnel_.sites:
        point = row.point
        if point is None or row.value is None or row.low is None or row.high is None:
            continue
        better = metric_funnel_.higher_is_better
        outside = point.band == "alarm" and _bad_side(point.z_adjusted, better)
        chart = charts.get(row.site)
        last = len(chart.points) - 1 if chart is not None else -1
        # the chart charts the bad side upward for NPS (detractors), the metric's own direction otherwise
        chart_better = better and not metric_funnel_.label.endswith("(NPS)")
        fired = tuple(sorted({f_.rule for f_ in (chart.firings if chart is not None else ()) if f_.at == last
                              and f_.rule in watched}))  # fmt: skip
        if fired and chart is not None and not _bad_side(chart.points[last].z, chart_better):
            fired = ()
        if not outside and not fired:
            continue
        limit = (point.low998 if better else point.high998) if outside else None
        out.append(Gap(row.site, metric_funnel_.metric, metric_funnel_.day_ms, row.value, row.n, row.low, row.high,
                       f.target, limit, fired, math.sqrt(f.tau2), len(f.points),
                       describe(metric_funnel_, row, f, limit, fired, names)))  # fmt: skip
    return out


def _pct(value: float, nps: bool) -> str:
    return f"{100 * value:+.1f}" if nps else f"{100 * value:.1f}%"


def describe(mf: MetricFunnel, row: SiteDay, f: Funnel, limit: float | None, fired: Sequence[int],
             names: Mapping[str, str]) -> str:  # fmt: skip
    from cxstream.domain.locations.spc import RULES

    nps = mf.label.endswith("(NPS)")
    assert row.value is not None and row.low is not None and row.high is not None
    parts = [f"{names.get(row.site, row.site)}: {mf.label} {_pct(row.value, nps)} (n={row.n}, 95% CI "
             f"{_pct(row.low, nps)} to {_pct(row.high, nps)})"]  # fmt: skip
    if limit is not None:
        side = "below" if mf.higher_is_better else "above"
        spread = f" (over-dispersion tau {100 * math.sqrt(f.tau2):.1f} points)" if f.tau2 > 0 else ""
        parts.append(f"{side} the 99.8% funnel limit {_pct(limit, nps)} around all {len(f.points)} locations' "
                     f"{_pct(f.target, nps)}{spread}")  # fmt: skip
    if fired:
        parts.append("control chart: " + "; ".join(f"rule {r} ({RULES[r]})" for r in fired))
    return ", ".join(parts[:2]) + ("; " + parts[2] if len(parts) > 2 else "")


@dataclass(frozen=True)
class DayReview:
    day_ms: int
    funnels: tuple[MetricFunnel, ...]
    gaps: tuple[Gap, ...]
    comparisons: int  # location x metric tests made
    expected_noise: float  # gaps pure noise would raise among them


def review_day(metrics: MetricsSpec, index: HistoryIndex, spec: Locations, day_ms: int,
               names: Mapping[str, str]) -> DayReview:  # fmt: skip
    """Every watched metric's funnel on the closed day starting ``day_ms``, each location's chart over the days
    up to it, and the gaps."""
    sites = [s.site for s in spec.sites]
    chart_days = spec.variance.chart_days
    starts = [day_ms - (chart_days - 1 - i) * DAY_MS for i in range(chart_days)]
    funnels, gaps = [], []
    comparisons = 0
    for metric in spec.variance.metrics:
        definition = metrics.definition(metric)
        history = site_days(index, metric, starts[0], day_ms + DAY_MS)
        today = {site: days.get(day_ms, Sufficient()) for site, days in history.items()}
        mf = metric_funnel(definition, today, sites, day_ms, spec.variance.min_n, metrics.confidence)
        charts = {site: site_chart(definition, history.get(site, {}), starts) for site in sites}
        funnels.append(mf)
        gaps.extend(gaps_for(mf, charts, spec, names))
        comparisons += len(mf.funnel.points) if mf.funnel is not None else 0
    return DayReview(day_ms, tuple(funnels), tuple(gaps), comparisons, noise_budget(comparisons, spec))


@lru_cache(maxsize=16)
def rule_false_alarm_rate(rules: tuple[int, ...], points: int = 40_000, seed: int = 1) -> float:
    """The share of in-control points (independent standard normal z) at which a watched rule fires on the bad
    side: estimated by simulation (a fixed seed, so the same every time)."""
    rng = random.Random(seed)
    z = [rng.gauss(0.0, 1.0) for _ in range(points)]
    firing = {f.at for f in nelson(z) if f.rule in rules and z[f.at] < 0}
    return len(firing) / points


def noise_budget(comparisons: int, spec: Locations) -> float:
    """Gaps a day among ``comparisons`` location-metric tests when nothing differs: the funnel's bad-side tail
    plus the watched rules' rate."""
    tail = (1.0 - spec.variance.alarm) / 2
    return comparisons * (tail + rule_false_alarm_rate(tuple(spec.variance.rules)))
