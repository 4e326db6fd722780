"""The headers and the brake on guessing, on a real aiohttp server in this process (no Kafka needed)."""

from __future__ import annotations

import asyncio

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from cxstream.domain.access.throttle import FailedLogins
from cxstream.domain.base import now_ms
from cxstream.observability.metrics import AUTH_FAILURES
from cxstream.web.auth import bearer_token
from cxstream.web.security import install, page_policy


async def guarded(request: web.Request) -> web.Response:
    if bearer_token(request.headers.get("Authorization", "")) != "right":
        return web.json_response({"error": "no"}, status=401)
    return web.json_response({"ok": True})


def test_wrong_tokens_are_slowed_down_per_address_and_a_right_one_clears_it() -> None:
    logins = FailedLogins(free=2, base_ms=50)
    app = web.Application()
    app.router.add_get("/api/me", guarded)
    install(app, logins)
    before = AUTH_FAILURES.labels(route="/api/me")._value.get()

    async def run() -> list[tuple[int, dict[str, str]]]:
        async with TestServer(app, host="127.0.0.1") as server, ClientSession() as client:
            answers = []
            for token in ("a", "b", "c", "d", "e"):
                async with client.get(server.make_url("/api/me"), headers={"Authorization": f"Bearer {token}"}) as r:
                    answers.append((r.status, dict(r.headers)))
            assert logins.delay_ms("127.0.0.1", now_ms()) == 200  # three over the free two: 50 doubled twice
            async with client.get(server.make_url("/api/me"), headers={"Authorization": "bearer right"}) as r:
                answers.append((r.status, dict(r.headers)))  # the scheme in lower case is fine too
            return answers

    answers = asyncio.run(run())
    assert [status for status, _ in answers] == [401] * 5 + [200]
    assert AUTH_FAILURES.labels(route="/api/me")._value.get() == before + 5
    assert logins.delay_ms("127.0.0.1", now_ms()) == 0  # the right token cleared the address
    for _, headers in answers:
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"


def test_the_page_policy_allows_its_own_inline_script_and_style_only() -> None:
    from cxstream.web.page import page_html

    policy = page_policy(page_html())
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy
    assert policy.count("'sha256-") == 2  # one <script>, one <style>


def test_openapi_lists_every_route_the_worker_serves() -> None:
    from cxstream.app import load_context
    from cxstream.settings import Settings
    from cxstream.web.openapi import document
    from cxstream.web.routes import ROUTES

    paths = document(load_context(Settings()).topology.metrics)["paths"]
    served = {(r.method.lower(), r.path) for r in ROUTES}
    described = {(method, path) for path, methods in paths.items() for method in methods}
    assert served <= described, sorted(served - described)
