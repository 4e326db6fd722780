"""Read-only JSON over the live metric tables (the war-room API builds on these):

* ``GET /api/metrics`` - the definitions and windows;
* ``GET /api/metrics/{definition}/{window}?region=emea&at=current&back=0`` - one window of one definition,
  rolled up over every finest scope that matches the given dimensions: value, n, interval, SLA compliance,
  top drivers among detractors, window bounds and whether the window is final. ``at`` says which window:
  ``current`` (the default: still filling), ``ended`` (the last that has ended; late events within grace may
  still change it; what the threshold rules show) or ``final`` (the last past its grace period: it will not
  change; ``closed=1`` is the older spelling of it); the answer names it in ``at``;
* ``GET /api/metrics/{definition}/{window}/history?count=12`` - the last windows, newest first;
* ``GET /api/metrics/{definition}/history?grain=week&from=...&to=...`` - closed days merged into weeks, months,
  quarters or years, for years back (:mod:`cxstream.web.history`).

Any worker answers for every partition: it merges the cells of the ``cx.events`` partitions it holds with
those the other workers hold (asked over ``GET /api/peer/cells``, see :mod:`cxstream.web.peers`); the cells
are sufficient statistics, so the merge is exact. ``partitions`` says how many partitions the answer covers of
how many, and how many workers answered, so a client never takes part of the data for all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import faust

from cxstream.agents.history import HistoryFeed
from cxstream.agents.metric_tables import MetricTables
from cxstream.domain.access.principal import OutOfScope, Principal
from cxstream.domain.metrics.cells import Cell
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.domain.metrics.windows import WindowValue, history, read_window, scope_values
from cxstream.web.auth import Denied, Gate, refuse
from cxstream.web.estimates import estimate_json
from cxstream.web.history import HISTORY_PARAMS, read_history
from cxstream.web.peers import LOCAL, ask_holders, is_local

RESERVED = {"closed", "at", "back", "count", LOCAL}
#: Which window a read means: still filling, the last that ended (what threshold rules show), the last final.
POSITIONS = ("current", "ended", "final")
PEER_CELLS = "/api/peer/cells"
HISTORY = "history"  # /api/metrics/{definition}/history: closed periods, not a window


def window_json(value: WindowValue, spec: MetricsSpec | None = None) -> dict[str, Any]:
    """A window as the API answers it; with ``spec``, also the names, unit and scale people read."""
    words: dict[str, Any] = {}
    if spec is not None:
        definition, window = spec.definition(value.definition), spec.window(value.window)
        words = {"display": definition.title, "window_display": window.title, "unit": definition.unit_name,
                 "scale": definition.scale_text}  # fmt: skip
    return {
        **words,
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


def cells_for(tables: MetricTables, principal: Principal, definitions: set[str]) -> list[Cell]:
    """This worker's cells of ``definitions`` that ``principal`` may read."""
    spec = tables.spec
    return [
        cell
        for cell in tables.held_cells(definitions)
        if principal.reads_scope(scope_values(spec.definition(cell.key.definition), cell.key.scope))
    ]


async def gather_cells(
    app: faust.App, tables: MetricTables, request: Any, definitions: set[str]
) -> tuple[list[Cell], dict[str, Any]]:
    """The cells of every partition: this worker's and, unless the caller is another worker (``local=1``), those
    of the other workers, asked with the caller's credentials. A partition reported by two workers (a moment in
    a rebalance) counts once. Returns the cells and the coverage ``{held, total, workers: {answered, asked}}``."""
    mine = tables.held_partitions()
    have, total = len(mine), tables.coverage()[1]
    coverage: dict[str, Any] = {"held": have, "total": total, "workers": {"answered": 1, "asked": 1}}
    if is_local(request):
        return tables.snapshot(), coverage
    wanted = {"definition": ",".join(sorted(definitions))}
    answers = await ask_holders(app, tables.table, request, PEER_CELLS, query=wanted)
    extra: list[Cell] = []
    seen = set(mine)
    for body in answers.ok():
        theirs = set(body["partitions"]) - seen
        seen |= theirs
        extra += [c for c in (Cell.decode(k, v) for k, v in body["cells"]) if c.key.partition in theirs]
    coverage.update(held=len(seen), workers=answers.workers())
    return tables.snapshot(extra), coverage


def register(app: faust.App, tables: MetricTables, gate: Gate, feed: HistoryFeed | None = None) -> None:
    spec = tables.spec

    def scope(request: Any, definition: str, where: dict[str, str]) -> dict[str, str]:
        """The token's scope applied to the query (see ``Principal.narrow``); 403 outside it."""
        try:
            return gate.principal(request).narrow(where, spec.definition(definition).dimensions)
        except OutOfScope as exc:
            raise Denied(403, str(exc)) from None

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
                "definitions": [
                    {**d.model_dump(mode="json"), "display": d.title, "unit": d.unit_name, "scale": d.scale_text}
                    for d in spec.definitions
                ],
                "confidence": spec.confidence,
                "min_n": spec.min_n,
                "grace": spec.grace,
            }
        )

    @app.page(PEER_CELLS)
    async def peer_cells(view: Any, request: Any) -> Any:
        """For the other workers: this worker's cells of the given definitions, within the caller's scope."""
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        wanted = {d for d in request.query.get("definition", "").split(",") if d}
        known = {d.id for d in spec.definitions}
        if not wanted <= known:
            return view.json({"error": f"unknown definition {', '.join(sorted(wanted - known))}"}, status=404)
        return view.json({"cells": [list(c.encode()) for c in cells_for(tables, principal, wanted)],
                          "partitions": sorted(tables.held_partitions())})  # fmt: skip

    async def answer(view: Any, request: Any, definition: str, window: str, read: Callable[..., Any]) -> Any:
        """Shared by the window views: 404 for an unknown definition or window, 400 for a bad parameter."""
        parsed = parse(request, definition, window)
        if isinstance(parsed, str):
            return view.json({"error": parsed}, status=404)
        where, query = parsed
        try:
            where = scope(request, definition, where)
        except Denied as denied:
            return refuse(view, denied)
        try:
            all_cells, coverage = await gather_cells(app, tables, request, {definition})
            body = read(spec, all_cells, definition, window, datetime.now(UTC), where, query)
        except (KeyError, ValueError) as exc:
            return view.json({"error": str(exc.args[0] if exc.args else exc)}, status=400)
        return view.json({**body, "partitions": coverage})

    def current(
        spec: MetricsSpec,
        cells: list[Cell],
        definition: str,
        window: str,
        now: datetime,
        where: dict[str, str],
        query: Mapping[str, str],
    ) -> dict[str, Any]:
        at = query.get("at") or ("final" if query.get("closed") in ("1", "true", "yes") else "current")
        if at not in POSITIONS:
            raise ValueError(f"at is one of {', '.join(POSITIONS)} (got {at!r})")
        back = int(query.get("back", "0"))
        if not 0 <= back <= 500:
            raise ValueError("back must be between 0 and 500 windows")
        value = read_window(
            spec, cells, definition, window, now=now, where=where, closed=at == "final", ended=at == "ended", back=back
        )
        return {**window_json(value, spec), "at": at}

    def past(spec: MetricsSpec, cells: Any, definition: str, window: str, now: datetime, where: Any, query: Any) -> Any:
        count = max(1, min(500, int(query.get("count", "12"))))
        values = history(spec, cells, definition, window, now=now, count=count, where=where)
        return {"windows": [window_json(v, spec) for v in values]}

    async def past_days(view: Any, request: Any, definition: str) -> Any:
        """Closed periods from the history topic: this worker's index covers every partition."""
        try:
            spec.definition(definition)
        except KeyError as exc:
            return view.json({"error": str(exc.args[0])}, status=404)
        if feed is None:
            return view.json({"error": "no metric history on this worker"}, status=404)
        where = {k: v for k, v in request.query.items() if k not in HISTORY_PARAMS}
        try:
            where = scope(request, definition, where)
        except Denied as denied:
            return refuse(view, denied)
        if not feed.ready:
            return view.json({"error": "metric history is still loading; try again"}, status=503)
        try:
            body = read_history(spec, feed.index, definition, request.query, where)
        except (KeyError, ValueError) as exc:
            return view.json({"error": str(exc.args[0] if exc.args else exc)}, status=400)
        return view.json(body)

    @app.page("/api/metrics/{definition}/{window}")
    async def one_window(view: Any, request: Any, definition: str, window: str) -> Any:
        if window == HISTORY:  # no window may be named so (MetricsSpec)
            return await past_days(view, request, definition)
        return await answer(view, request, definition, window, current)

    @app.page("/api/metrics/{definition}/{window}/history")
    async def window_history(view: Any, request: Any, definition: str, window: str) -> Any:
        return await answer(view, request, definition, window, past)
