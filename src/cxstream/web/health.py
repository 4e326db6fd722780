"""``/healthz`` (the process answers), ``/readyz`` (broker reachable, partitions assigned, tables recovered,
every ``cx.events`` partition answered by this worker or a live peer, no agent stopped at the dead-letter
limit, the metric history read)
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
from aiohttp import ClientTimeout
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cxstream.agents.guard import Guards
from cxstream.agents.runtime_state import RuntimeState
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import READY, REGISTRY
from cxstream.web.peers import held

log = get_logger(__name__)
_PROBE_TTL = 3.0
_PROBE_TIMEOUT = 3.0
_PEER_TIMEOUT = ClientTimeout(total=1.5)


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
class PeerCoverage:
    """Which partitions of the metric table this worker can answer for: its own, and those of the other
    workers the group assigned them to that answer ``/healthz`` (asked at most once per ``_PROBE_TTL``
    seconds). A worker that died keeps its partitions until the group notices (its session timeout): during
    those seconds every read spans only part of the data, and readiness says so."""

    app: faust.App
    table: Any
    total: int
    _checked_at: float = -1e9
    _alive: dict[str, bool] = field(default_factory=dict)

    async def check(self) -> tuple[bool, str]:
        me = str(self.app.conf.canonical_url).rstrip("/")
        changelog = self.table.changelog_topic.get_topic_name()
        by_host = {str(host).rstrip("/"): set(topics.get(changelog, ()))
                   for host, topics in self.app.router.table_metadata(self.table.name).items()}  # fmt: skip
        mine = held(self.app, self.table)
        others = {host: parts for host, parts in by_host.items() if host != me and parts}
        if time.monotonic() - self._checked_at >= _PROBE_TTL:
            answers = await asyncio.gather(*(self._alive_at(host) for host in others))
            self._alive = dict(zip(others, answers, strict=True))
            self._checked_at = time.monotonic()
        silent = sorted(host for host in others if not self._alive.get(host, False))
        answered = set(mine).union(*(parts for host, parts in others.items() if host not in silent))
        detail = f"answering for {len(answered)} of {self.total} partitions"
        if silent:
            detail += f" ({', '.join(silent)} not answering)"
        return len(answered) >= self.total, detail

    async def _alive_at(self, host: str) -> bool:
        try:
            async with self.app.http_client.get(f"{host}/healthz", timeout=_PEER_TIMEOUT) as response:
                return bool(response.status == 200)
        except Exception:
            return False


@dataclass
class Readiness:
    app: faust.App
    probe: BrokerProbe
    guards: Guards | None = None
    coverage: PeerCoverage | None = None
    assigned: bool = False
    history: Any = None  # the history feed (agents.history.HistoryFeed), when metrics are on

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
        if self.history is not None:
            loaded = bool(self.history.ready)
            detail = f"{self.history.index.count()} closed periods read" if loaded else "reading cx.metrics.history"
            checks["history_loaded"] = {"ok": loaded, "detail": detail}
        if self.coverage is not None:
            ok, detail = (await self.coverage.check()) if recovered and not rebalancing else (False, "not yet")
            checks["partitions_answered"] = {"ok": ok, "detail": detail}
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
