"""Proposed warning and critical levels and SLA targets per scope, from the scope's history and its customers'
tolerance, with what each would have done over that history.

For a threshold rule and each scope it evaluates (and over all scopes, the rule's own levels):

- the scope's **daily values** over the lookback (closed days of the metric history with at least ``min_n``
  answers or measurements, by default the metric's minimum n), their median and quantiles (numpy's linear
  quantile), and the median per weekday (the weekly pattern the levels have to live with);
- **from history**: for a rule that fires ABOVE a level, warning at the ``warning_quantile`` (default 0.90)
  and critical at the ``critical_quantile`` (0.99) of the daily values; for BELOW, the mirror quantiles (0.10,
  0.01); clear at the median: a normal day clears, an unusual one warns, a rare one is critical;
- **from customer tolerance** (operational metrics with a tolerance pair whose point is claimed for the scope,
  or over all): critical no later than the tolerance point and warning no later than its interval's lower
  bound, so the levels never wait for what customers already mind; the **SLA target** is the point itself;
- **what each would have done**: days per calendar month beyond the current and the proposed levels, next to
  the rule's false-breach budget (the live test runs on 5-minute buckets; days are what history keeps).

Levels are rounded (whole units from 10 up, else one decimal) and kept in order (critical beyond warning, clear
on the good side of warning).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from cxstream.domain.alerting.records import Direction
from cxstream.domain.alerting.thresholds import Levels, ThresholdRule
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.history.views import Grain, history_view
from cxstream.domain.metrics.spec import DAY_MS, UNKNOWN, MetricsSpec
from cxstream.domain.metrics.windows import estimate_of
from cxstream.domain.origin import Origin
from cxstream.domain.tolerance.curves import ToleranceCurve

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_DAYS = 28  # fewer valued days in a scope: no proposal for it


@dataclass(frozen=True)
class DailyValue:
    day: date
    value: float
    n: int


@dataclass(frozen=True)
class MonthCount:
    month: str  # YYYY-MM
    days: int  # days with a value
    current_warning: int  # days at or beyond the current warning level (critical days included)
    current_critical: int
    warning: int  # ... the proposed levels
    critical: int


@dataclass(frozen=True)
class ScopeProposal:
    scope: Mapping[str, str]
    days: int
    n: int  # answers or measurements over the valued days
    median: float | None
    warning: float | None
    critical: float | None
    clear: float | None
    current: Levels
    basis: str  # "history" or "history and customer tolerance"
    tolerance: str | None  # the tolerance sentence used
    sla: float | None  # proposed SLA target in the metric's unit (operational metrics with a tolerance point)
    weekday_medians: tuple[float | None, ...]
    months: tuple[MonthCount, ...]
    note: str  # why there is no proposal, or what to watch


@dataclass(frozen=True)
class RuleProposal:
    rule: str
    metric: str
    direction: Direction
    unit: str
    first: date
    last: date
    budget: str
    overall: ScopeProposal
    scopes: tuple[ScopeProposal, ...]
    origin: Origin


def rounded(value: float) -> float:
    """Whole units from 10 up, else one decimal; halves away from zero."""
    scale = 1 if abs(value) >= 10 else 10
    return math.copysign(math.floor(abs(value) * scale + 0.5), value) / scale


def daily_values(metrics: MetricsSpec, index: HistoryIndex, metric: str, first: date, last: date,
                 where: Mapping[str, str], now: datetime, min_n: int | None = None) -> list[DailyValue]:  # fmt: skip
    """The scope's closed days with at least ``min_n`` answers or measurements (default: the metric's min_n)."""
    view = history_view(metrics, index, metric, Grain.DAY, first, last, now=now, where=where)
    definition = metrics.definition(metric)
    if min_n is not None:
        definition = definition.model_copy(update={"min_n": min_n})
    out = []
    for p in view.points:
        shown = estimate_of(definition, p.stats, metrics) if min_n is not None else p.estimate
        if shown.value is not None:
            out.append(DailyValue(p.start.date(), shown.value, shown.n))
    return out


def _beyond(value: float, level: float | None, direction: Direction) -> bool:
    if level is None:
        return False
    return value >= level if direction is Direction.ABOVE else value <= level


def _months(values: Sequence[DailyValue], current: Levels, warning: float | None, critical: float | None,
            direction: Direction) -> tuple[MonthCount, ...]:  # fmt: skip
    out: dict[str, list[int]] = {}
    for v in values:
        row = out.setdefault(v.day.strftime("%Y-%m"), [0, 0, 0, 0, 0])
        row[0] += 1
        row[1] += _beyond(v.value, current.warning if current.warning is not None else current.critical, direction)
        row[2] += _beyond(v.value, current.critical, direction)
        row[3] += _beyond(v.value, warning, direction)
        row[4] += _beyond(v.value, critical, direction)
    return tuple(MonthCount(month, *row) for month, row in sorted(out.items()))


def _ordered(warning: float, critical: float, clear: float, direction: Direction) -> tuple[float, float, float]:
    """Rounded, with critical strictly beyond warning and clear on warning's good side."""
    sign = 1.0 if direction is Direction.ABOVE else -1.0
    warning, critical, clear = rounded(warning), rounded(critical), rounded(clear)
    step = 1.0 if abs(critical) >= 10 or abs(warning) >= 10 else 0.1
    if sign * (critical - warning) <= 0:
        warning = rounded(critical - sign * max(abs(critical - clear) / 2, step))
    if sign * (warning - clear) <= 0:
        clear = rounded(warning - sign * max(abs(critical - warning), step))
    return warning, critical, clear


def propose_scope(rule: ThresholdRule, values: Sequence[DailyValue], scope: Mapping[str, str],
                  tolerance: ToleranceCurve | None, *, warning_quantile: float = 0.90,
                  critical_quantile: float = 0.99) -> ScopeProposal:  # fmt: skip
    current = rule.levels_for(scope)
    weekdays: tuple[float | None, ...] = tuple(
        float(np.median([v.value for v in values if v.day.weekday() == d])) if any(v.day.weekday() == d for v in values)
        else None for d in range(7)
    )  # fmt: skip
    n = sum(v.n for v in values)
    if len(values) < MIN_DAYS:
        return ScopeProposal(scope, len(values), n, None, None, None, None, current, "history", None, None, weekdays,
                             _months(values, current, None, None, rule.direction),
                             f"{len(values)} days with a value: at least {MIN_DAYS} are needed")  # fmt: skip
    data = np.array([v.value for v in values])
    above = rule.direction is Direction.ABOVE
    median = float(np.quantile(data, 0.5))
    warning = float(np.quantile(data, warning_quantile if above else 1 - warning_quantile))
    critical = float(np.quantile(data, critical_quantile if above else 1 - critical_quantile))
    basis, sentence, sla, note = "history", None, None, ""
    t = tolerance.tolerance if tolerance is not None else None
    if above and t is not None and t.claimed and t.point is not None:
        assert tolerance is not None
        basis, sentence = "history and customer tolerance", tolerance.summary
        critical = min(critical, t.point)
        if t.point_low is not None:
            warning = min(warning, t.point_low)
        sla = float(math.floor(t.point)) if t.point >= 10 else round(t.point, 1)
        if median >= t.point:
            note = "the scope's median day is already past its customers' tolerance: expect the levels to hold often"
    warning, critical, clear = _ordered(warning, critical, median, rule.direction)
    return ScopeProposal(scope, len(values), n, median, warning, critical, clear, current, basis, sentence, sla,
                         weekdays, _months(values, current, warning, critical, rule.direction), note)  # fmt: skip


def scope_values(
    index: HistoryIndex, metric: str, dims: Sequence[str], start_ms: int, end_ms: int
) -> list[dict[str, str]]:
    """Every combination of the dimensions' values the history holds for the metric (unknown values left out)."""
    seen: set[tuple[str, ...]] = set()
    for fact in index.facts(metric, DAY_MS, start_ms, end_ms):
        values = tuple(fact.value_of(d) for d in dims)
        if UNKNOWN not in values:
            seen.add(values)
    return [dict(zip(dims, values, strict=True)) for values in sorted(seen)]


def _tolerance_for(curves: Sequence[ToleranceCurve], scope: Mapping[str, str]) -> ToleranceCurve | None:
    """The curve of the scope when it claims a point, else the curve over all."""
    exact = next((c for c in curves if dict(c.scope) == dict(scope)), None)
    if exact is not None and exact.tolerance.claimed:
        return exact
    return next((c for c in curves if not c.scope), None)


def propose(rule: ThresholdRule, metrics: MetricsSpec, index: HistoryIndex, now: datetime,
            curves: Sequence[ToleranceCurve] = (), *, lookback_days: int = 91, warning_quantile: float = 0.90,
            critical_quantile: float = 0.99, only: Mapping[str, str] | None = None,
            min_n: int | None = None) -> RuleProposal:  # fmt: skip
    """Levels for the rule over all its scopes and per scope, from the closed days before today."""
    today = now.astimezone(UTC).date()
    last = today - timedelta(days=1)
    first = today - timedelta(days=lookback_days)
    start_ms = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp() * 1000)
    end_ms = int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp() * 1000)
    definition = metrics.definition(rule.metric)
    options = {"warning_quantile": warning_quantile, "critical_quantile": critical_quantile}
    overall = propose_scope(rule, daily_values(metrics, index, rule.metric, first, last, {}, now, min_n), {},
                            _tolerance_for(curves, {}), **options)  # fmt: skip
    scopes = []
    if rule.scope_by:
        for where in scope_values(index, rule.metric, rule.scope_by, start_ms, end_ms):
            if only and any(where.get(k) != v for k, v in only.items()):
                continue
            values = daily_values(metrics, index, rule.metric, first, last, where, now, min_n)
            scopes.append(propose_scope(rule, values, where, _tolerance_for(curves, where), **options))
    tolerance_used = sorted({c.pair for c in curves if c.tolerance.claimed})
    data = f"{rule.metric} daily history {first.isoformat()}..{last.isoformat()} ({overall.days} days, n={overall.n:,})"
    if tolerance_used:
        data += f" and tolerance {', '.join(tolerance_used)}"
    low, high = (1 - warning_quantile, 1 - critical_quantile) if rule.direction is Direction.BELOW else (
        warning_quantile, critical_quantile)  # fmt: skip
    method = (f"warning at the daily q{100 * low:g}, critical at q{100 * high:g}, clear at the median"
              + ("; no later than the customers' tolerance point" if tolerance_used else ""))  # fmt: skip
    origin = Origin(proposed=today, data=data, method=method)
    return RuleProposal(rule.id, rule.metric, rule.direction, definition.unit_name, first, last,
                        rule.budget.describe(), overall, tuple(scopes), origin)  # fmt: skip
