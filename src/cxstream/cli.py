"""``cxstream`` command line. Exit status: 0 fine, 1 the cluster or data disagrees, 2 bad configuration."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from cxstream import __version__
from cxstream.config.yaml_source import ConfigError
from cxstream.settings import Settings, SettingsError, load_settings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _fail(message: str, code: int) -> int:
    print(f"cxstream: {message}", file=sys.stderr)
    return code


def _context(settings: Settings) -> Any:
    from cxstream.app import load_context

    return load_context(settings)


# --- broker ---------------------------------------------------------------------------------------


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
                    return _fail("the embedded broker exited unexpectedly", EXIT_FAILED)
    except EmbeddedBrokerError as exc:
        return _fail(str(exc), EXIT_FAILED)
    return EXIT_OK


# --- worker / run -----------------------------------------------------------------------------------


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.kafka.embedded import EmbeddedBrokerError
    from cxstream.observability.logging import configure_logging
    from cxstream.runtime import StartupError, kafka_cluster, run_worker

    ctx = _context(settings)
    configure_logging(settings)
    try:
        with kafka_cluster(settings) as bootstrap:
            if args.command == "run":
                print(
                    f"cxstream {__version__}: broker {bootstrap}"
                    f"{' (embedded)' if settings.embedded else ''}\n"
                    f"  metrics  http://{settings.web_host}:{settings.web_port}/metrics\n"
                    f"  ready    http://{settings.web_host}:{settings.web_port}/readyz\n"
                    "Ctrl-C stops everything.",
                    file=sys.stderr,
                    flush=True,
                )
            run_worker(ctx, bootstrap)
    except (StartupError, EmbeddedBrokerError) as exc:
        return _fail(str(exc), EXIT_FAILED)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_FAILED
    return EXIT_OK


# --- topics ---------------------------------------------------------------------------------------------


def _print_reports(reports: Sequence[Any], undeclared: Sequence[Any] = ()) -> None:
    header = f"{'topic':34} {'status':8} {'partitions':>12} {'replication':>12}  {'cleanup':8} {'retention':9}  notes"
    print(header)
    for r in reports:
        spec, actual = r.spec, r.actual
        parts = f"{actual.partitions if actual else '-'}/{spec.partitions}"
        reps = f"{actual.replication if actual else '-'}/{spec.replication}"
        notes = "; ".join([*r.errors, *r.warnings])
        print(
            f"{spec.name:34} {r.status:8} {parts:>12} {reps:>12}  "
            f"{spec.cleanup_policy.value:8} {spec.retention:9}  {notes}"
        )
    for a in undeclared:
        print(f"{a.name:34} {'extra':8} {a.partitions:>12} {a.replication:>12}  not declared in the topology")
    print("(partitions and replication: actual/declared)")


def cmd_topics(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.kafka.connection import aiokafka_options
    from cxstream.kafka.topics import TopicAdmin

    ctx = _context(settings)
    if settings.embedded:
        return _fail(
            "CXSTREAM_KAFKA_BOOTSTRAP is not set. Point it at a cluster (or at `cxstream broker`); "
            "`cxstream worker` applies the topics itself on start.",
            EXIT_CONFIG,
        )

    async def _go() -> int:
        async with TopicAdmin(aiokafka_options(settings, settings.kafka_bootstrap)) as admin:
            if args.action == "apply":
                reports = await admin.apply(ctx.topology)
                _print_reports(reports)
            else:
                reports, undeclared = await admin.status(ctx.topology)
                _print_reports(reports, undeclared)
        return EXIT_FAILED if any(r.failed or r.status == "missing" for r in reports) else EXIT_OK

    try:
        return asyncio.run(_go())
    except Exception as exc:
        return _fail(f"cannot reach {settings.kafka_bootstrap}: {type(exc).__name__}: {exc}", EXIT_FAILED)


# --- schemas --------------------------------------------------------------------------------------------


def cmd_schemas(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.serde.compat import check_schemas

    verdicts, note = check_schemas(settings.schema_dir, args.against)
    for v in verdicts:
        print(f"{'ok ' if v.ok else 'BAD'} {v.name:28} {v.status:12} {v.detail}")
    print(f"{len(verdicts)} schema verdicts; {note}")
    return EXIT_OK if all(v.ok for v in verdicts) else EXIT_FAILED


# --- config ---------------------------------------------------------------------------------------------


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.settings import env_name

    _context(settings)  # validates topology and schemas too
    for name, value in settings.model_dump().items():
        shown = "***" if "password" in name and value is not None else value
        print(f"{env_name(name):40} {shown}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxstream", description=__doc__)
    parser.add_argument("--version", action="version", version=f"cxstream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="the whole service: broker (embedded unless configured), topics, worker")
    p.set_defaults(handler=cmd_worker)
    p = sub.add_parser("worker", help="one Faust worker (starts the embedded broker if none is configured)")
    p.set_defaults(handler=cmd_worker)
    p = sub.add_parser("broker", help="run the embedded Kafka-wire broker and print its bootstrap address")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default 9092)")
    p.set_defaults(handler=cmd_broker)
    p = sub.add_parser("topics", help="declared topics on the configured cluster")
    p.add_argument("action", choices=["apply", "list"])
    p.set_defaults(handler=cmd_topics)
    p = sub.add_parser("schemas", help="Avro schema checks")
    p.add_argument("action", choices=["check"])
    p.add_argument("--against", default="main", help="git revision to check compatibility with (default main)")
    p.set_defaults(handler=cmd_schemas)
    p = sub.add_parser("config", help="print the effective settings (secrets masked) after validating all files")
    p.set_defaults(handler=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from cxstream.connectors.registry import ConnectorLoadError
    from cxstream.serde.catalog import SchemaError

    args = build_parser().parse_args(argv)
    handler: Callable[[Settings, argparse.Namespace], int] = args.handler
    try:
        settings = load_settings()
        return handler(settings, args)
    except (SettingsError, ConfigError, SchemaError, ConnectorLoadError) as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
