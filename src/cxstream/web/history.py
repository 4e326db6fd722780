"""``GET /api/metrics/{definition}/history?grain=week&from=2026-01-01&to=2026-03-31&region=emea``: closed days
of one metric merged into days, weeks, months, quarters, years (or the declared intervals), from this worker's
copy of ``cx.metrics.history`` (every worker reads the whole topic, so no other worker is asked).

Each point carries its estimate with n and interval, whether it is partial (not every live partition has
closed the whole period yet) and whether backfilled files contributed. The answer says how far the live
partitions have closed their periods and where retention begins.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cxstream.domain.base import to_ms
from cxstream.domain.history.index import Coverage, HistoryIndex
from cxstream.domain.history.views import Grain, HistoryPoint, HistoryView, history_view
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.web import charts
from cxstream.web.estimates import estimate_json

#: Query parameters that are not dimension filters.
HISTORY_PARAMS = {"grain", "from", "to", "chart"}
#: The longest range a read may span, by grain (a point per interval or day costs a little each).
MAX_SPAN_DAYS = {Grain.INTERVAL: 62, Grain.DAY: 3660, Grain.WEEK: 36600, Grain.MONTH: 36600, Grain.QUARTER: 36600,
                 Grain.YEAR: 36600}  # fmt: skip
DEFAULT_DAYS = {Grain.INTERVAL: 1, Grain.DAY: 31, Grain.WEEK: 7 * 26, Grain.MONTH: 730, Grain.QUARTER: 730,
                Grain.YEAR: 1461}  # fmt: skip


def parse_range(query: Mapping[str, str], grain: Grain, today: date) -> tuple[date, date]:
    """``from`` and ``to`` (ISO dates, inclusive); by default a span that suits the grain, ending today."""
    try:
        last = date.fromisoformat(query["to"]) if query.get("to") else today
        first = date.fromisoformat(query["from"]) if query.get("from") else last - timedelta(DEFAULT_DAYS[grain] - 1)
    except ValueError as exc:
        raise ValueError(f"from and to are dates such as 2026-03-31 ({exc})") from None
    if not (date(1970, 1, 1) <= first and last <= date(2200, 12, 31)):
        raise ValueError("from and to lie between 1970-01-01 and 2200-12-31")
    if last < first:
        raise ValueError(f"to ({last}) is before from ({first})")
    longest = MAX_SPAN_DAYS[grain]
    if (last - first).days >= longest:
        raise ValueError(f"at most {longest} days by {grain.value}: narrow the range or take a coarser grain")
    return first, last


def parse_grain(text: str | None) -> Grain:
    try:
        return Grain(text or "day")
    except ValueError:
        raise ValueError(f"grain is one of {', '.join(g.value for g in Grain)} (got {text!r})") from None


def coverage_json(coverage: Coverage) -> dict[str, Any]:
    return {
        "closed_through": _iso_ms(coverage.through_ms),
        "partitions_closed": coverage.closed,
        "partitions": coverage.partitions,
    }


def _iso_ms(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def point_json(point: HistoryPoint) -> dict[str, Any]:
    return {
        "start": point.start.isoformat(),
        "end": point.end.isoformat(),
        "estimate": estimate_json(point.estimate),
        "sla": estimate_json(point.sla),
        "easy": estimate_json(point.easy),
        "top_drivers": [{"driver": d, "count": c} for d, c in point.top_drivers],
        "days_with_data": point.days_with_data,
        "partial": point.partial,
        "imported": point.imported,
    }


def view_json(view: HistoryView) -> dict[str, Any]:
    return {
        "definition": view.definition,
        "indicator": view.indicator.value,
        "grain": view.grain.value,
        "period_ms": view.period_ms,
        "scope": dict(view.scope),
        "start": view.start.isoformat(),
        "end": view.end.isoformat(),
        "retention_start": view.retention_start.isoformat(),
        "coverage": coverage_json(view.coverage),
        "points": [point_json(p) for p in view.points],
    }


def history_chart(spec: MetricsSpec, view: HistoryView) -> str:
    """The view as a trend (the page shows it): the value per period with its interval, partial ones hollow."""
    definition = spec.definition(view.definition)
    scope = ", ".join(f"{k}={v}" for k, v in view.scope.items()) or "all scopes"
    points = tuple(
        charts.Point((to_ms(p.start) + to_ms(p.end)) // 2, None if p.estimate.insufficient else p.estimate.value,
                     p.estimate.low, p.estimate.high, p.estimate.n, p.partial)
        for p in view.points
    )  # fmt: skip
    title = f"{definition.title} by {view.grain.value}, {scope}"
    return charts.trend(title, definition.unit_name, [charts.Series(scope, points)], width=900, height=260, font=14)


def read_history(
    spec: MetricsSpec, index: HistoryIndex, definition: str, query: Mapping[str, str], where: Mapping[str, str]
) -> dict[str, Any]:
    """The API's answer (with ``chart=svg``, also the trend as SVG); raises KeyError or ValueError (a 400) for a
    bad parameter."""
    now = datetime.now(UTC)
    grain = parse_grain(query.get("grain"))
    first, last = parse_range(query, grain, now.date())
    view = history_view(spec, index, definition, grain, first, last, now=now, where=where)
    body = view_json(view)
    if query.get("chart") == "svg":
        body["chart"] = history_chart(spec, view)
    return body
