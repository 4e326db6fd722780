"""``POST /ingest/{source}``: a webhook that writes each JSON record, byte for byte, to ``cx.raw.<source>``.

``202 {"accepted": n}`` once the broker has acknowledged every record; ``400`` with the reason for a body
that is not a JSON object or array; ``401`` without the bearer token (the scheme in any case); ``404`` for a
source with no enabled connector; ``413`` over the size limit; ``415`` unless the body is declared JSON
(``Content-Type: application/json`` or ``application/*+json``); ``503`` when no token is configured.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

import faust
from faust.web import View

from cxstream.connectors.base import ORIGIN_HEADER, WEBHOOK_ORIGIN, Connector, MappingError
from cxstream.connectors.payloads import split_json_body
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import INGEST_REQUESTS
from cxstream.settings import Settings
from cxstream.web.auth import bearer_token

log = get_logger(__name__)


def _is_json(content_type: str) -> bool:
    """``application/json`` or a JSON-based type such as ``application/cloudevents+json``."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


async def _read_limited(request: Any, limit: int) -> bytes | None:
    """The body, or None when it is longer than ``limit``."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def register(app: faust.App, settings: Settings, connectors: dict[str, Connector]) -> None:
    by_source = {c.name: c for c in connectors.values()}
    topics = {
        c.name: app.topic(c.raw_topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        for c in by_source.values()
    }
    expected = settings.ingest_token.get_secret_value().encode() if settings.ingest_token else None
    limit = settings.ingest_max_bytes

    class Ingest(View):
        async def post(self, request: Any, source: str) -> Any:
            status, body = await self._handle(request, source)
            INGEST_REQUESTS.labels(source=source if source in by_source else "unknown", status=str(status)).inc()
            return self.json(body, status=status)

        async def _handle(self, request: Any, source: str) -> tuple[int, dict[str, Any]]:
            if expected is None:
                return 503, {"error": "ingest is disabled: set CXSTREAM_INGEST_TOKEN"}
            token = bearer_token(request.headers.get("Authorization", ""))
            if token is None or not hmac.compare_digest(token.encode(), expected):
                return 401, {"error": "missing or wrong bearer token"}
            connector = by_source.get(source)
            if connector is None:
                return 404, {"error": f"no enabled connector {source!r}", "sources": sorted(by_source)}
            if not _is_json(request.content_type):
                return 415, {"error": f"Content-Type must be application/json, not {request.content_type}"}
            body = await _read_limited(request, limit)
            if body is None:
                return 413, {"error": f"body over {limit} bytes"}
            try:
                records = split_json_body(body, limit)
            except MappingError as exc:
                return 400, {"error": str(exc)}
            futures = []
            for record in records:
                key = connector.record_key(connector.parse(record))
                futures.append(
                    await topics[source].send(
                        key=key.encode() if key else None, value=record, headers={ORIGIN_HEADER: WEBHOOK_ORIGIN}
                    )
                )
            await asyncio.gather(*futures)
            log.info("ingested", source=source, records=len(records), bytes=len(body))
            return 202, {"accepted": len(records), "topic": connector.raw_topic}

    app.page("/ingest/{source}")(Ingest)
