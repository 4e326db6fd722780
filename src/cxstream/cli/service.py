"""``cxstream run``, ``worker``, ``broker`` and ``demo``: running the service and its parts."""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from pydantic import SecretStr

from cxstream import __version__
from cxstream.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    context,
    fail,
)
from cxstream.settings import Settings


def cmd_broker(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.kafka.embedded import EmbeddedBroker, EmbeddedBrokerError

    port = args.port if args.port is not None else (settings.embedded_broker_port or 9092)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        with EmbeddedBroker(port) as broker:
            print(broker.bootstrap, flush=True)
            print(
                f"embedded broker ready (pid {broker.pid}); memory storage: stopping it loses every topic.\n"
                f"  export CXSTREAM_KAFKA_BOOTSTRAP={broker.bootstrap}\n"
                "Ctrl-C stops it.",
                file=sys.stderr,
                flush=True,
            )
            while not stop.wait(0.5):
                if not broker.running():
                    return fail("the embedded broker exited unexpectedly", EXIT_FAILED)
    except EmbeddedBrokerError as exc:
        return fail(str(exc), EXIT_FAILED)
    return EXIT_OK


def _with_session_token(settings: Settings) -> tuple[Settings, str]:
    """No API token configured: one admin token for this run, passed to the worker in its settings."""
    token = secrets.token_urlsafe(24)
    tokens = json.dumps([{"name": "run-admin", "role": "admin", "token": token}])
    return settings.model_copy(update={"api_tokens": SecretStr(tokens)}), token


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.demo.plan import DemoPlan
    from cxstream.kafka.embedded import EmbeddedBrokerError
    from cxstream.observability.logging import configure_logging
    from cxstream.runtime import StartupError, kafka_cluster, run_worker

    ctx = context(settings)
    session_token = None
    if args.command == "run" and settings.api_tokens is None and not ctx.topology.access.tokens:
        settings, session_token = _with_session_token(settings)  # the demo's page needs a token to open
        ctx = context(settings)
    configure_logging(settings)
    base = settings.local_url
    try:
        with kafka_cluster(settings) as bootstrap:
            if args.command == "run":
                print(
                    f"cxstream {__version__}: broker {bootstrap}"
                    f"{' (embedded)' if settings.embedded else ''}\n"
                    + (
                        f"  page     {base}/#token={session_token}  (an admin token for this run only)\n"
                        if session_token
                        else f"  page     {base}/  (sign in with an API token)\n"
                    )
                    + f"  metrics  {base}/metrics\n"
                    f"  ready    {base}/readyz\n"
                    f"  live     {base}/api/metrics/csat.delivery/1h  (Authorization: Bearer <token>)\n"
                    + (
                        f"  demo     {args.demo_rate:g} records/s, "
                        f"incident {args.incident} after {args.incident_after:g} s"
                        + (f", {args.past_days} days of past records in history first" if args.past_days > 0 else "")
                        + "\n"
                        if args.demo_rate > 0
                        else ""
                    )
                    + "Ctrl-C stops everything.",
                    file=sys.stderr,
                    flush=True,
                )
            demo = None
            if args.command == "run" and args.demo_rate > 0:
                incident = args.incident if args.incident != "none" else None
                demo = DemoPlan(rate=args.demo_rate, incident=incident, incident_after=args.incident_after,
                                past_days=max(0, args.past_days), incident_for=args.incident_for)  # fmt: skip
            run_worker(ctx, bootstrap, demo)
    except (StartupError, EmbeddedBrokerError) as exc:
        return fail(str(exc), EXIT_FAILED)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_FAILED
    return EXIT_OK


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.demo.plan import DemoPlan, run
    from cxstream.kafka.connection import aiokafka_options

    if args.write_past:
        return _write_past(Path(args.write_past), args.days, args.seed)
    if settings.embedded:
        return fail("CXSTREAM_KAFKA_BOOTSTRAP is not set: point it at a cluster, or use `cxstream run`", EXIT_CONFIG)
    plan = DemoPlan(args.rate, args.seed, args.malformed, args.incident, args.incident_after, args.duration or None,
                    incident_for=args.incident_for)  # fmt: skip
    try:
        plan.traffic(datetime.now(UTC))
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    try:
        sent = run(plan, aiokafka_options(settings, settings.kafka_bootstrap))
    except KeyboardInterrupt:
        return EXIT_OK
    print(f"demo: done, {sent.total()} records sent", file=sys.stderr)
    return EXIT_OK


def _write_past(path: Path, days: int, seed: int) -> int:
    from itertools import chain

    from cxstream.demo.past import past_contacts, past_records
    from cxstream.demo.plan import CONTACT_DAYS

    if days < 1:
        return fail("--days must be at least 1", EXIT_CONFIG)
    first = datetime.now(UTC).date() - timedelta(days=days)
    n = 0
    with path.open("wb") as out:
        recent = min(days, CONTACT_DAYS)
        contacts = past_contacts(first + timedelta(days=days - recent), recent, seed=seed + 2)
        for record in chain(past_records(first, days, seed=seed), contacts):
            out.write(record + b"\n")
            n += 1
    print(f"{n} past records from {first} to {first + timedelta(days=days - 1)} written to {path}; load them with "
          f"cxstream import --history --source canonical {path}", file=sys.stderr)  # fmt: skip
    return EXIT_OK
