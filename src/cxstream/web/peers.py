"""Asking the other workers: each worker holds some partitions of each table, so a read that spans every
partition (a list of cases, a metric rolled up over regions) asks the workers holding the rest, and a read or
write of one key held elsewhere is answered by the worker holding it.

A worker is asked over HTTP at its advertised address (``CXSTREAM_WEB_ADVERTISED_URL``), with the caller's
own credentials (so it applies the same roles and scopes) and ``local=1`` (answer from your own partitions,
ask nobody). A worker that does not answer is counted, never hidden: :class:`Answers` says how many were
asked and how many answered, and the API passes that on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import faust
from aiohttp import ClientTimeout

from cxstream.agents import assignment
from cxstream.observability.logging import get_logger

ASK_TIMEOUT = ClientTimeout(total=10)
FORWARDED = ("Authorization", "Cookie")
LOCAL = "local"
log = get_logger(__name__)


def is_local(request: Any) -> bool:
    """The caller (another worker) wants this worker's own partitions only."""
    return bool(request.query.get(LOCAL) == "1")


def held(app: faust.App, table: Any) -> set[int]:
    """The partitions of ``table`` this worker holds as their active owner (not its standby copies)."""
    return assignment.held(app, table.changelog_topic.get_topic_name())


@dataclass
class Answers:
    replies: list[tuple[int, Any]] = field(default_factory=list)  # (status, JSON body) of those that answered
    asked: int = 0

    @property
    def answered(self) -> int:
        return len(self.replies)

    def ok(self) -> list[Any]:
        return [body for status, body in self.replies if status == 200]

    def found(self) -> tuple[int, Any] | None:
        """The first answer that is not a 404 (the worker holding the key), if any."""
        return next(((s, b) for s, b in self.replies if s != 404), None)

    def workers(self, local: bool = True) -> dict[str, int]:
        """``answered`` of ``asked``, this worker included when it answered too."""
        return {"answered": self.answered + int(local), "asked": self.asked + int(local)}


def holders(app: faust.App, table: Any) -> list[str]:
    """The web addresses of the other workers holding active partitions of ``table``."""
    me = str(app.conf.canonical_url).rstrip("/")
    changelog = table.changelog_topic.get_topic_name()
    out = []
    for host, topics in app.router.table_metadata(table.name).items():
        url = str(host).rstrip("/")
        if url != me and topics.get(changelog):
            out.append(url)
    return sorted(out)


async def _ask_one(
    app: faust.App, host: str, path: str, request: Any, query: dict[str, str], body: bytes | None
) -> tuple[int, Any] | None:
    headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
    try:
        async with app.http_client.request(
            "POST" if body is not None else "GET",
            f"{host}{path}",
            params=query,
            headers=headers,
            data=body,
            timeout=ASK_TIMEOUT,
        ) as response:
            return response.status, await response.json()
    except Exception as exc:  # reported through Answers.asked > answered, and logged (no credentials)
        log.warning("peer.no_answer", peer=host, path=path, error=type(exc).__name__)
        return None


async def ask_holders(
    app: faust.App,
    table: Any,
    request: Any,
    path: str,
    *,
    body: bytes | None = None,
    query: dict[str, str] | None = None,
) -> Answers:
    """Ask every other worker holding partitions of ``table`` for ``path`` at once (``local=1``, the caller's
    credentials, the caller's query unless ``query`` is given)."""
    params = {**(dict(request.query) if query is None else query), LOCAL: "1"}
    hosts = holders(app, table)
    replies = await asyncio.gather(*(_ask_one(app, h, path, request, params, body) for h in hosts))
    return Answers([r for r in replies if r is not None], len(hosts))
