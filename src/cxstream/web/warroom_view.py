"""What the war-room page shows, as one JSON snapshot for one token: a tile per region and survey metric (value,
n, interval, status against the metric's threshold levels for that region, a sparkline of the last windows),
the open breaches by severity, the open cases with their SLA deadlines, and the top drivers among detractors.
The page renders it; ``/api/stream`` sends a new one whenever it changes."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from cxstream.domain.access.principal import OutOfScope, Principal
from cxstream.domain.alerting.records import BreachKind, Direction
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.alerting.spec import Alerting
from cxstream.domain.alerting.state import OpenBreach
from cxstream.domain.alerting.thresholds import ThresholdRule
from cxstream.domain.cases.machine import Case
from cxstream.domain.metrics.cells import Cell
from cxstream.domain.metrics.spec import SURVEY_INDICATORS, MetricDefinition, MetricsSpec
from cxstream.domain.metrics.windows import history, read_window
from cxstream.web.estimates import estimate_json
from cxstream.web.reads import breach_in_scope, breach_rows, case_in_scope, case_rows

SPARK_POINTS = 12


def tile_status(rule: ThresholdRule | None, region: str, value: float | None, insufficient: bool) -> str:
    """critical / warning / ok against the rule's levels for the region; ``insufficient`` below the minimum n."""
    if value is None or insufficient:
        return "insufficient"
    if rule is None:
        return "ok"
    levels = rule.levels_for({"region": region})

    def worse(level: float | None) -> bool:
        if level is None:
            return False
        return value < level if rule.direction is Direction.BELOW else value > level

    if worse(levels.critical):
        return "critical"
    return "warning" if worse(levels.warning) else "ok"


def tile_definitions(spec: MetricsSpec) -> list[MetricDefinition]:
    """The survey metrics kept by region: a tile each per region."""
    return [d for d in spec.definitions if d.indicator in SURVEY_INDICATORS and "region" in d.dimensions]


def snapshot(
    spec: MetricsSpec, alerting: Alerting, regions: tuple[str, ...], cells: list[Cell], breaches: list[OpenBreach],
    cases: list[Case], principal: Principal, now: datetime, coverage: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """``breaches`` and ``cases`` are the open ones; only those in the principal's scope are shown, masked for
    it. ``coverage`` says what the data covers (partitions held of all, workers answered of asked) and is shown
    with it."""
    rules = {r.metric: r for r in alerting.thresholds}
    shown = [r for r in regions if principal.in_scope(r, None)]
    surveys = tile_definitions(spec)
    breaches = [b for b in breaches if breach_in_scope(principal, b)]
    tiles, drivers, critical = [], Counter[str](), set[str | None]()
    for region in shown:
        for definition in surveys:
            rule = rules.get(definition.id)
            window = rule.window if rule is not None else spec.windows[0].id
            try:
                where = principal.narrow({"region": region}, definition.dimensions)
            except OutOfScope:
                continue  # the same rule as GET /api/metrics: a tile the token may not read is not shown
            value = read_window(spec, cells, definition.id, window, now=now, where=where)
            past = history(spec, cells, definition.id, window, now=now, count=SPARK_POINTS, where=where)
            estimate = value.estimate
            drivers.update(dict(value.top_drivers))
            status = tile_status(rule, region, estimate.value if estimate else None,
                                 estimate is None or estimate.insufficient)  # fmt: skip
            if status == "critical":
                critical.add(region)
            tiles.append({
                "region": region, "definition": definition.id, "indicator": definition.indicator.value,
                "team": definition.owner, "window": window, "estimate": estimate_json(estimate), "status": status,
                "spark": [v.estimate.value if v.estimate and not v.estimate.insufficient else None
                          for v in reversed(past)],
                "top_drivers": [{"driver": d, "count": c} for d, c in value.top_drivers],
            })  # fmt: skip
    red = {b.region for b in breaches if b.kind is not BreachKind.HOT_ALERT and b.severity is Severity.CRITICAL}
    red |= critical
    open_cases = sorted((c for c in cases if case_in_scope(principal, c)),
                        key=lambda c: c.acknowledge_due_ms or c.resolve_due_ms or 0)  # fmt: skip
    return {
        "at": now.isoformat(),
        "principal": principal.describe(),
        "regions": [{"region": r, "status": "critical" if r in red else "ok"} for r in shown],
        "tiles": tiles,
        "breaches": breach_rows(principal, breaches),
        "cases": case_rows(principal, open_cases),
        "top_drivers": [{"driver": d, "count": c} for d, c in drivers.most_common(8)],
        "coverage": coverage,
    }
