"""The war-room page at ``/`` (one static file, no build step), its snapshot ``GET /api/warroom`` and the live
stream ``GET /api/stream``: Server-Sent Events, a ``snapshot`` event at once and again whenever the tiles,
breaches or cases change (checked every ``STREAM_EVERY`` seconds), a comment line as heartbeat in between,
and ``retry`` so the browser reconnects by itself."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import faust
from aiohttp import web

from cxstream.agents.metric_tables import MetricTables
from cxstream.domain.access.principal import Principal
from cxstream.domain.alerting.spec import Alerting
from cxstream.web.auth import Denied, Gate, refuse
from cxstream.web.live import gather_cells
from cxstream.web.reads import Reads
from cxstream.web.security import page_policy
from cxstream.web.warroom_view import Screen, Words, snapshot, tile_definitions

STREAM_EVERY = 2.0
#: The tab's icon: a pulse line on the page's background.
FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" '
    b'fill="#0f1419"/><path d="M3 18h7l3-9 5 16 3-7h8" fill="none" stroke="#2ea043" stroke-width="3" '
    b'stroke-linejoin="round" stroke-linecap="round"/></svg>'
)
HEARTBEAT_EVERY = 15.0


class Shared:
    """One snapshot per principal every ``ttl`` seconds, however many screens show it: each snapshot asks every
    worker, so ten wall screens of one token cost what one does."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._last: dict[Any, tuple[float, asyncio.Future[dict[str, Any]]]] = {}

    async def get(self, principal: Any, make: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """``principal``: whatever the snapshot depends on (the token's holder, and the screen it is for)."""
        now = time.monotonic()
        hit = self._last.get(principal)
        if hit is None or now - hit[0] >= self.ttl or (hit[1].done() and hit[1].exception() is not None):
            hit = (now, asyncio.ensure_future(make()))
            self._last[principal] = hit
        return dict(await asyncio.shield(hit[1]))  # a copy: each stream may change its own


def page_html() -> bytes:
    return resources.files("cxstream.web").joinpath("static/warroom.html").read_bytes()


def screen_of(request: Any) -> Screen:
    """``?screen=wall`` sizes the snapshot's charts for a wall; anything else for a desk."""
    return Screen.WALL if request.query.get("screen") == Screen.WALL.value else Screen.DESK


def register(
    app: faust.App,
    gate: Gate,
    tables: MetricTables,
    alerting: Alerting,
    regions: tuple[str, ...],
    reads: Reads,
    words: Words,
) -> None:
    html = page_html()
    tiles = {d.id for d in tile_definitions(tables.spec)}
    shared = Shared(STREAM_EVERY / 2)

    async def current(request: Any, principal: Principal) -> dict[str, Any]:
        """Every worker's part: the metric cells, the open cases and the desk's breaches, asked of the workers
        holding them with the caller's credentials."""
        (cells, coverage), (cases, case_workers), desk = await asyncio.gather(
            gather_cells(app, tables, request, tiles),
            reads.cases(request, principal, {"open": "1"}),
            reads.breaches(request, principal),
        )
        coverage = {**coverage, "cases": case_workers, "breaches": desk.failure is None}
        breaches = desk.found
        return snapshot(tables.spec, alerting, regions, cells, breaches, cases, principal, datetime.now(UTC), coverage,
                        words, screen_of(request))  # fmt: skip

    policy = page_policy(html)

    @app.page("/")
    async def index(view: Any, request: Any) -> Any:
        response = view.bytes(html, content_type="text/html")
        response.headers["Content-Security-Policy"] = policy
        return response

    @app.page("/favicon.svg")
    async def favicon(view: Any, request: Any) -> Any:
        response = view.bytes(FAVICON, content_type="image/svg+xml")
        response.headers["Cache-Control"] = "max-age=86400"
        return response

    @app.page("/api/warroom")
    async def warroom(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        return view.json(await current(request, principal))

    @app.page("/api/stream")
    async def stream(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})  # fmt: skip
        await response.prepare(request)
        await response.write(b"retry: 3000\n\n")
        last, quiet = "", 0.0
        try:
            while True:
                state = await shared.get((principal, screen_of(request)), lambda: current(request, principal))
                at = state.pop("at")
                body = json.dumps(state, separators=(",", ":"))
                digest = hashlib.sha256(body.encode()).hexdigest()  # changed apart from the time
                if digest != last:
                    body = json.dumps({"at": at, **state}, separators=(",", ":"))
                    await response.write(f"event: snapshot\ndata: {body}\n\n".encode())
                    last, quiet = digest, 0.0
                elif quiet >= HEARTBEAT_EVERY:
                    await response.write(b": heartbeat\n\n")
                    quiet = 0.0
                await asyncio.sleep(STREAM_EVERY)
                quiet += STREAM_EVERY
        except (ConnectionResetError, RuntimeError):
            pass  # the browser went away; it reconnects by itself when it comes back
        return response
