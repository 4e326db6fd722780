"""A small client for a Confluent-compatible Schema Registry (REST API v1): register and fetch by id.

Lookups are cached forever (ids are immutable), so after start-up the hot path never does I/O.
Calls are synchronous: :meth:`register` runs once per topic at start, :meth:`schema_by_id` once per
unseen writer schema.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from typing import Any

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(Exception):
    """The registry refused a request or could not be reached."""


class SchemaRegistryClient:
    def __init__(
        self, url: str, username: str | None = None, password: str | None = None, timeout: float = 10.0
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._auth = None
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._auth = f"Basic {token}"
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, str] = {}
        self._lock = threading.Lock()

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", _CONTENT_TYPE)
        if data is not None:
            request.add_header("Content-Type", _CONTENT_TYPE)
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise RegistryError(f"{method} {path}: HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, TimeoutError, OSError, json.JSONDecodeError) as exc:
            raise RegistryError(f"{method} {path}: {exc}") from exc

    def register(self, subject: str, schema_text: str) -> int:
        """Id of ``schema_text`` under ``subject``, registering it if new (idempotent on the registry)."""
        key = (subject, schema_text)
        with self._lock:
            if key in self._ids:
                return self._ids[key]
        answer = self._request("POST", f"/subjects/{subject}/versions", {"schema": schema_text})
        schema_id = int(answer["id"])
        with self._lock:
            self._ids[key] = schema_id
            self._schemas[schema_id] = schema_text
        return schema_id

    def schema_by_id(self, schema_id: int) -> str:
        with self._lock:
            if schema_id in self._schemas:
                return self._schemas[schema_id]
        answer = self._request("GET", f"/schemas/ids/{schema_id}")
        text = str(answer["schema"])
        with self._lock:
            self._schemas[schema_id] = text
        return text
