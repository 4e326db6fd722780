"""Read-only JSON over the live metric tables (the war-room API builds on these):

* ``GET /api/metrics`` - the definitions and windows;
* ``GET /api/metrics/{definition}/{window}?region=emea&closed=1&back=0`` - one window of one definition,
  rolled up over every finest scope that matches the given dimensions: value, n, interval, SLA compliance,
  top drivers among detractors, window bounds and whether the window is final;
* ``GET /api/metrics/{definition}/{window}/history?count=12`` - the last windows, newest first.

A worker answers from the ``cx.events`` partitions it holds; ``partitions`` says how many of how many, so a
client never takes part of the data for all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust

from cxstream.agents.metric_tables import MetricTables
from cxstream.domain.access import Role
from cxstream.domain.metrics import MetricsSpec, WindowValue, history, read_window
from cxstream.domain.stats import Estimate
from cxstream.web.auth import Denied, Gate, refuse

RESERVED = {"closed", "back", "count"}


def estimate_json(estimate: Estimate | None) -> dict[str, Any] | None:
    if estimate is None:
        return None
    return {
        "value": estimate.value,
        "n": estimate.n,
        "low": estimate.low,
        "high": estimate.high,
        "confidence": estimate.confidence,
        "min_n": estimate.min_n,
        "unit": estimate.unit.strip(),
        "insufficient": estimate.insufficient,
        "text": estimate.describe(),
    }


def window_json(value: WindowValue) -> dict[str, Any]:
    return {
        "definition": value.definition,
        "indicator": value.indicator.value,
        "window": value.window,
        "start": value.start.isoformat(),
        "end": value.end.isoformat(),
        "final": value.final,
        "scope": dict(value.scope),
        "estimate": estimate_json(value.estimate),
        "sla": estimate_json(value.sla),
        "easy": estimate_json(value.easy),
        "top_drivers": [{"driver": d, "count": c} for d, c in value.top_drivers],
    }


def register(app: faust.App, tables: MetricTables, events_topic: str, gate: Gate) -> None:
    spec = tables.spec

    def scope(request: Any, where: dict[str, str]) -> dict[str, str]:
        """The token's scope applied to the query: a token limited to one region (team) reads that region
        (team) when none is asked for; asking for another is refused."""
        principal = gate.principal(request)
        limited = {"region": principal.regions, "team": principal.teams}
        out = dict(where)
        for dimension, allowed in limited.items():
            if not allowed or principal.role is Role.ADMIN:
                continue
            asked = out.get(dimension)
            if asked is None and len(allowed) == 1:
                out[dimension] = next(iter(allowed))
            elif asked not in allowed:
                raise Denied(
                    403, f"{principal.name} reads {dimension} {', '.join(sorted(allowed))} only: add ?{dimension}="
                )
        return out

    def held() -> dict[str, int]:
        have, total = tables.coverage(events_topic)
        return {"held": have, "total": total}

    def parse(request: Any, definition: str, window: str) -> tuple[dict[str, str], dict[str, Any]] | str:
        try:
            spec.definition(definition)
            spec.window(window)
        except KeyError as exc:
            return str(exc.args[0])
        where = {k: v for k, v in request.query.items() if k not in RESERVED}
        return where, dict(request.query)

    @app.page("/api/metrics")
    async def catalog(view: Any, request: Any) -> Any:
        try:
            gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        return view.json(
            {
                "windows": [w.model_dump(mode="json") for w in spec.windows],
                "definitions": [d.model_dump(mode="json") for d in spec.definitions],
                "confidence": spec.confidence,
                "min_n": spec.min_n,
                "grace": spec.grace,
            }
        )

    def answer(view: Any, request: Any, definition: str, window: str, read: Callable[..., Any]) -> Any:
        """Shared by the window views: 404 for an unknown definition or window, 400 for a bad parameter."""
        parsed = parse(request, definition, window)
        if isinstance(parsed, str):
            return view.json({"error": parsed}, status=404)
        where, query = parsed
        try:
            where = scope(request, where)
        except Denied as denied:
            return refuse(view, denied)
        try:
            body = read(spec, tables.snapshot(), definition, window, datetime.now(UTC), where, query)
        except (KeyError, ValueError) as exc:
            return view.json({"error": str(exc.args[0] if exc.args else exc)}, status=400)
        return view.json({**body, "partitions": held()})

    def current(
        spec: MetricsSpec, cells: Any, definition: str, window: str, now: datetime, where: Any, query: Any
    ) -> Any:
        closed = query.get("closed") in ("1", "true", "yes")
        back = int(query.get("back", "0"))
        if not 0 <= back <= 500:
            raise ValueError("back must be between 0 and 500 windows")
        return window_json(read_window(spec, cells, definition, window, now=now, where=where, closed=closed, back=back))

    def past(spec: MetricsSpec, cells: Any, definition: str, window: str, now: datetime, where: Any, query: Any) -> Any:
        count = max(1, min(500, int(query.get("count", "12"))))
        values = history(spec, cells, definition, window, now=now, count=count, where=where)
        return {"windows": [window_json(v) for v in values]}

    @app.page("/api/metrics/{definition}/{window}")
    async def one_window(view: Any, request: Any, definition: str, window: str) -> Any:
        return answer(view, request, definition, window, current)

    @app.page("/api/metrics/{definition}/{window}/history")
    async def window_history(view: Any, request: Any, definition: str, window: str) -> Any:
        return answer(view, request, definition, window, past)
