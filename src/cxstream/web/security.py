"""What every answer of a worker's web server carries, and the slowing down of credential guessing.

* every response: ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``, ``X-Frame-Options:
  DENY`` and, for the API, ``Cache-Control: no-store`` (answers hold scoped, personal data);
* the page: a ``Content-Security-Policy`` allowing only its own inline script and style (by digest) and
  requests to its own origin, and no framing (:func:`page_policy`);
* a client (by address) whose credentials keep being refused (``401``) waits longer before each answer
  (:class:`~cxstream.domain.access.throttle.FailedLogins`). Behind a proxy every client has the proxy's address:
  put the proxy's own rate limit in front (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from cxstream.domain.access.throttle import FailedLogins
from cxstream.domain.base import now_ms
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import AUTH_FAILURES

log = get_logger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _digests(html: str, tag: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)


def page_policy(html: bytes) -> str:
    """The page's Content-Security-Policy: its inline ``<script>`` and ``<style>`` blocks by digest, nothing else."""
    text = html.decode()
    return (
        f"default-src 'none'; script-src {_digests(text, 'script')}; style-src {_digests(text, 'style')}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")


def install(web_app: web.Application, logins: FailedLogins) -> None:
    """The headers and the guessing brake on every route of ``web_app`` (before it starts)."""

    @web.middleware
    async def brake(request: web.Request, handler: Handler) -> web.StreamResponse:
        client = request.remote or "unknown"
        wait = logins.delay_ms(client, now_ms())
        if wait:
            await asyncio.sleep(wait / 1000)
        response = await handler(request)
        if response.status == 401:
            logins.failed(client, now_ms())
            AUTH_FAILURES.labels(route=request.match_info.route.resource.canonical
                                 if request.match_info.route.resource else "unknown").inc()  # fmt: skip
            if wait:
                log.warning("credentials_refused_again", client=client, waited_ms=wait)
        elif response.status < 400 and ("Authorization" in request.headers or request.cookies):
            logins.succeeded(client)
        return response

    web_app.middlewares.append(brake)
    web_app.on_response_prepare.append(_headers)
