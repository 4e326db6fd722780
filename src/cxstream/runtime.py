"""Running things: the Kafka cluster to use (external or embedded), topics, and the Faust worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator

from cxstream.agents import stall
from cxstream.agents.stall import EXIT_STALLED
from cxstream.app import Context, create_app
from cxstream.demo.plan import DemoPlan
from cxstream.domain.topology import Topology
from cxstream.kafka.connection import aiokafka_options
from cxstream.kafka.embedded import EmbeddedBroker
from cxstream.kafka.topics import TopicAdmin, TopicReport
from cxstream.observability.logging import get_logger, logging_dict_config
from cxstream.observability.metrics import WORKER_RESTARTS
from cxstream.process import spawn_child, stop_child, supervise
from cxstream.settings import Settings

log = get_logger(__name__)


class StartupError(RuntimeError):
    """The service cannot start; the message says what to fix."""


@contextlib.contextmanager
def kafka_cluster(settings: Settings) -> Iterator[str]:
    """The bootstrap address to use: the configured cluster, or an embedded broker for the duration."""
    if not settings.embedded:
        yield settings.kafka_bootstrap
        return
    with EmbeddedBroker(settings.embedded_broker_port) as broker:
        log.info(
            "embedded_broker_started",
            bootstrap=broker.bootstrap,
            pid=broker.pid,
            note="memory storage: stopping it loses every topic",
        )
        yield broker.bootstrap


async def apply_topics(settings: Settings, topology: Topology, bootstrap: str) -> tuple[list[TopicReport], int]:
    async with TopicAdmin(aiokafka_options(settings, bootstrap)) as admin:
        reports = await admin.apply(topology)
        return reports, await admin.broker_count()


def ensure_topics(settings: Settings, topology: Topology, bootstrap: str) -> int:
    """Create missing topics; refuse to start on drift that would break processing. Returns broker count."""
    reports, brokers = asyncio.run(apply_topics(settings, topology, bootstrap))
    created = [r.spec.name for r in reports if r.status == "created"]
    if created:
        log.info("topics_created", topics=created, count=len(created))
    capped = [r.spec.name for r in reports if r.capped_replication is not None]
    if capped:
        log.info("replication_capped", brokers=brokers, topics=capped, count=len(capped))
    for report in reports:
        for warning in report.warnings:
            log.warning("topic_drift", topic=report.spec.name, detail=warning)
    failed = [f"{r.spec.name}: {e}" for r in reports for e in r.errors]
    if failed:
        raise StartupError("topics do not match the topology:\n  " + "\n  ".join(failed))
    return brokers


def run_worker(ctx: Context, bootstrap: str, demo_plan: DemoPlan | None = None) -> None:
    """Apply topics, start the demo source when asked (its own process, tied to this one's life), then run one
    Faust worker until SIGINT/SIGTERM, in a child process started again (with backoff) whenever it exits
    otherwise. Raises SystemExit when done; the demo process stops with the worker."""
    brokers = ensure_topics(ctx.settings, ctx.topology, bootstrap)
    demo = None
    if demo_plan is not None:
        env = {**os.environ, "CXSTREAM_KAFKA_BOOTSTRAP": bootstrap}
        demo = spawn_child([sys.executable, "-m", "cxstream.demo", demo_plan.to_json()], env=env)
        log.info("demo_started", pid=demo.pid, plan=demo_plan.to_json())
    try:
        code = supervise(lambda restarts: _run_faust(ctx, bootstrap, brokers, restarts), on_exit=_restarting)
    finally:
        if demo is not None:
            stop_child(demo)
    raise SystemExit(code)


def _restarting(code: int, ran_s: float, delay_s: float) -> None:
    stalled = code == EXIT_STALLED
    log.error(
        "worker_exited", exit_code=code, ran_s=round(ran_s, 1), restart_in_s=delay_s,
        detail="paused past its session timeout" if stalled else "restarting it",
    )  # fmt: skip


def _run_faust(ctx: Context, bootstrap: str, brokers: int, restarts: int = 0) -> None:
    import faust

    WORKER_RESTARTS.set(restarts)
    # the group drops a member that sent no heartbeat for the session timeout: a process that stood still
    # nearly that long may have lost its partitions, and exits before it writes (agents.stall)
    stall.watch.start(ctx.settings.broker_session_timeout - ctx.settings.broker_heartbeat_interval)

    app = create_app(ctx, bootstrap, brokers=brokers)
    worker = faust.Worker(
        app,
        loglevel=ctx.settings.log_level,
        logging_config=logging_dict_config(ctx.settings),
        redirect_stdouts=False,
        quiet=True,
    )
    # Faust's terminal spinner, kept when the level is WARNING or above, sets the root logger to DEBUG so that
    # it turns on every record: every debug call of Faust then builds a record (5 % of a busy worker's CPU)
    worker.spinner = None
    log.info(
        "worker_starting",
        app_id=ctx.settings.app_id,
        bootstrap=bootstrap,
        web=f"{ctx.settings.local_url}/",
    )
    worker.execute_from_commandline()
