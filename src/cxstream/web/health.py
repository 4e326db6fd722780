"""``/healthz`` (the process answers), ``/readyz`` (broker reachable, partitions assigned, tables recovered,
no agent stopped at the dead-letter limit)
``/metrics`` (Prometheus text exposition) and ``/status`` (lag, recovery, tables, last breach: for
``cxstream status``) on the worker's web server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cxstream.agents.guard import Guards
from cxstream.agents.runtime_state import RuntimeState
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import READY, REGISTRY

log = get_logger(__name__)
_PROBE_TTL = 3.0
_PROBE_TIMEOUT = 3.0


@dataclass
class BrokerProbe:
    """Asks the cluster for its brokers, at most once per ``_PROBE_TTL`` seconds."""

    client_options: dict[str, Any]
    _client: AIOKafkaAdminClient | None = None
    _checked_at: float = -1e9
    _result: tuple[bool, str] = (False, "not checked yet")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def check(self) -> tuple[bool, str]:
        async with self._lock:
            if time.monotonic() - self._checked_at < _PROBE_TTL:
                return self._result
            self._result = await self._ask()
            self._checked_at = time.monotonic()
            return self._result

    async def _ask(self) -> tuple[bool, str]:
        try:
            if self._client is None:
                client = AIOKafkaAdminClient(**self.client_options, request_timeout_ms=int(_PROBE_TIMEOUT * 1000))
                await asyncio.wait_for(client.start(), _PROBE_TIMEOUT)
                self._client = client
            cluster = await asyncio.wait_for(self._client.describe_cluster(), _PROBE_TIMEOUT)
            return True, f"{len(cluster.get('brokers', []))} broker(s)"
        except Exception as exc:
            await self.close()
            return False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a broken client is best effort
                await client.close()


@dataclass
class Readiness:
    app: faust.App
    probe: BrokerProbe
    guards: Guards | None = None
    assigned: bool = False

    def on_assigned(self, *args: Any, **kwargs: Any) -> None:
        self.assigned = True

    def _agents(self) -> dict[str, Any]:
        stopped = self.guards.stopped() if self.guards is not None else {}
        if not stopped:
            return {"ok": True, "detail": "running"}
        detail = "; ".join(f"{agent} stopped at the dead-letter limit: {t.reason}" for agent, t in stopped.items())
        return {"ok": False, "detail": detail, "stopped": {agent: t.to_json() for agent, t in stopped.items()}}

    async def report(self) -> tuple[bool, dict[str, Any]]:
        broker_ok, broker_detail = await self.probe.check()
        tables: Any = self.app.tables
        recovered = bool(tables.recovery.completed.is_set()) if self.assigned else False
        rebalancing = bool(self.app.rebalancing)
        checks: dict[str, dict[str, Any]] = {
            "broker": {"ok": broker_ok, "detail": broker_detail},
            "partitions_assigned": {
                "ok": self.assigned and not rebalancing,
                "detail": "rebalancing" if rebalancing else ("assigned" if self.assigned else "waiting for the group"),
            },
            "tables_recovered": {"ok": recovered, "detail": "recovered" if recovered else "recovering"},
            "agents": self._agents(),
        }
        ready = all(c["ok"] for c in checks.values())
        READY.set(1 if ready else 0)
        return ready, checks


def register(app: faust.App, readiness: Readiness, runtime: RuntimeState) -> None:
    app.on_partitions_assigned.connect(readiness.on_assigned)

    @app.page("/healthz")
    async def healthz(view: Any, request: Any) -> Any:
        return view.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(view: Any, request: Any) -> Any:
        ready, checks = await readiness.report()
        return view.json({"ready": ready, "checks": checks}, status=200 if ready else 503)

    @app.page("/metrics")
    async def metrics(view: Any, request: Any) -> Any:
        await readiness.report()  # keep cxstream_ready current for scrapers
        try:
            runtime.refresh_gauges()
        except Exception:  # lag and table sizes are best effort; the counters must still be served
            log.exception("runtime_state_failed")
        return view.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/status")
    async def status(view: Any, request: Any) -> Any:
        ready, checks = await readiness.report()
        return view.json({"ready": ready, "checks": checks, **runtime.refresh_gauges()})
