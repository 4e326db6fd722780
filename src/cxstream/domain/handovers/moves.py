"""The team's metrics that moved most during a shift: each metric the team owns, over all and per region, this
shift against the shift before (the same length), from the live metric tables. Ranked by the difference over
its approximate standard error (each side's interval half-width over z), so a big swing on ten answers does not
outrank a steady fall on a thousand; each side keeps its own n and interval."""

from __future__ import annotations

import math
from collections.abc import Iterable

from cxstream.domain.handovers.records import MetricMove
from cxstream.domain.handovers.spec import ShiftWindow
from cxstream.domain.metrics.cells import Cell
from cxstream.domain.metrics.spec import Indicator, MetricDefinition, MetricsSpec
from cxstream.domain.metrics.stats import Estimate, z_value
from cxstream.domain.metrics.windows import estimate_of, stats_between


def _se(e: Estimate) -> float | None:
    if e.value is None or e.low is None or e.high is None:
        return None
    return (e.high - e.low) / (2 * z_value(e.confidence))


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def team_definitions(spec: MetricsSpec, team: str) -> list[MetricDefinition]:
    """The definitions a team's handover compares: those it owns, but per-band splits and contact counts."""
    return [d for d in spec.definitions if d.owner == team and not d.bands and d.indicator is not Indicator.CONTACTS]


def metric_moves(spec: MetricsSpec, cells: Iterable[Cell], team: str, w: ShiftWindow, top: int) -> list[MetricMove]:
    owned = team_definitions(spec, team)
    wanted = {d.id for d in owned}
    by_definition: dict[str, list[Cell]] = {}
    for cell in cells:
        if cell.key.definition in wanted:
            by_definition.setdefault(cell.key.definition, []).append(cell)
    length = w.end_ms - w.start_ms
    out = []
    for definition in owned:
        held = by_definition.get(definition.id, [])
        if not held:
            continue
        scopes: list[dict[str, str]] = [{}]
        if "region" in definition.dimensions:
            at = definition.dimensions.index("region")
            scopes.extend({"region": r} for r in sorted({c.key.scope[at] for c in held} - {"-"}))
        for where in scopes:
            before_stats, _ = stats_between(spec, held, definition.id, w.start_ms - length, w.start_ms, where)
            after_stats, _ = stats_between(spec, held, definition.id, w.start_ms, w.end_ms, where)
            before, after = estimate_of(definition, before_stats, spec), estimate_of(definition, after_stats, spec)
            if after.n == 0 and before.n == 0:
                continue
            difference = z = None
            if before.value is not None and after.value is not None:
                difference = after.value - before.value
                se_b, se_a = _se(before), _se(after)
                if se_b is not None and se_a is not None and (se_b or se_a):
                    z = difference / math.sqrt(se_b**2 + se_a**2)
            out.append(MetricMove(definition.id, definition.title, where, definition.unit_name, _r(before.value),
                                  before.n, _r(before.low), _r(before.high), _r(after.value), after.n, _r(after.low),
                                  _r(after.high), _r(difference), _r(z)))  # fmt: skip
    out.sort(key=lambda m: (m.z is None, -abs(m.z or 0), -m.after_n))
    return out[:top]
