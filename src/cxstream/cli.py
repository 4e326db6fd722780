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

from cxstream import __version__, cli_alerts, cli_cases, cli_status
from cxstream.config.yaml_source import ConfigError
from cxstream.domain.catalog import Topics
from cxstream.settings import Settings, SettingsError, load_settings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


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


def _with_session_token(settings: Settings) -> tuple[Settings, str]:
    """No API token configured: one admin token for this run, passed to the worker in its settings."""
    import json
    import secrets

    from pydantic import SecretStr

    token = secrets.token_urlsafe(24)
    tokens = json.dumps([{"name": "run-admin", "role": "admin", "token": token}])
    return settings.model_copy(update={"api_tokens": SecretStr(tokens)}), token


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.kafka.embedded import EmbeddedBrokerError
    from cxstream.observability.logging import configure_logging
    from cxstream.runtime import StartupError, kafka_cluster, run_worker

    ctx = _context(settings)
    session_token = None
    if args.command == "run" and settings.api_tokens is None and not ctx.topology.access.tokens:
        settings, session_token = _with_session_token(settings)  # the demo's page needs a token to open
        ctx = _context(settings)
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
                        f"incident {args.incident} after {args.incident_after:g} s\n"
                        if args.demo_rate > 0
                        else ""
                    )
                    + "Ctrl-C stops everything.",
                    file=sys.stderr,
                    flush=True,
                )
            demo_args = None
            if args.command == "run" and args.demo_rate > 0:
                demo_args = ["--rate", str(args.demo_rate), "--incident-after", str(args.incident_after)]
                demo_args += ["--incident", args.incident] if args.incident != "none" else []
            run_worker(ctx, bootstrap, demo_args)
    except (StartupError, EmbeddedBrokerError) as exc:
        return _fail(str(exc), EXIT_FAILED)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_FAILED
    return EXIT_OK


# --- demo ---------------------------------------------------------------------------------------------


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from cxstream.demo.producer import run_demo
    from cxstream.demo.traffic import DemoTraffic
    from cxstream.kafka.connection import aiokafka_options

    if settings.embedded:
        return _fail("CXSTREAM_KAFKA_BOOTSTRAP is not set: point it at a cluster, or use `cxstream run`", EXIT_CONFIG)
    start = datetime.now(UTC) + timedelta(seconds=args.incident_after)
    try:
        traffic = DemoTraffic(args.seed, args.malformed, args.incident, start)
    except ValueError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    if args.incident:
        print(f"demo: incident {args.incident} starts in {args.incident_after:.0f} s", file=sys.stderr, flush=True)
    try:
        sent = asyncio.run(
            run_demo(aiokafka_options(settings, settings.kafka_bootstrap), traffic, args.rate, args.duration or None)
        )
    except KeyboardInterrupt:
        return EXIT_OK
    print(f"demo: done, {sent.total()} records sent", file=sys.stderr)
    return EXIT_OK


# --- connectors, import, dead letters ------------------------------------------------------------------


def cmd_connectors(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.connectors.registry import installed

    ctx = _context(settings)
    enabled = {c.name for c in ctx.connectors.values()}
    print(f"{'name':12} {'raw topic':20} {'enabled':8} description")
    for name, cls in sorted(installed().items()):
        print(f"{name:12} {'cx.raw.' + name:20} {'yes' if name in enabled else 'no':8} {cls.description}")
    return EXIT_OK


def _duration_text(ms: int) -> str:
    from cxstream.domain.durations import format_duration_ms

    return format_duration_ms(ms)


def cmd_routes(settings: Settings, args: argparse.Namespace) -> int:
    """``routes show``: the tree with inherited settings; ``routes test k=v ...``: where such a breach goes
    (like ``amtool config routes test``)."""
    from cxstream.domain.alerting.routing import Route
    from cxstream.domain.topology import ESCALATION_PREFIX

    ctx = _context(settings)
    routing = ctx.topology.alerting.routing
    if routing is None:
        return _fail("no alerting.routing section in the topology", EXIT_CONFIG)
    root, _ = routing.build()
    if args.action == "show":

        def show(route: Route, depth: int) -> None:
            matchers = ", ".join(str(m) for m in route.matchers) or "(everything)"
            print(
                f"{'  ' * depth}{matchers} -> {route.receiver}{' (continue)' if route.continue_ else ''}  "
                f"group_by={list(route.group_by)} wait={_duration_text(route.group_wait_ms)} "
                f"interval={_duration_text(route.group_interval_ms)} repeat={_duration_text(route.repeat_interval_ms)}"
            )
            for child in route.routes:
                show(child, depth + 1)

        show(root, 0)
        return EXIT_OK
    labels: dict[str, str] = {}
    for item in args.labels:
        name, sep, value = item.partition("=")
        if not sep or not name:
            return _fail(f"{item!r} is not a label such as severity=CRITICAL", EXIT_CONFIG)
        labels[name] = value
    routes = root.match(labels)
    default = routes == [root] and bool(root.routes)
    for route in routes:
        print(
            f"{route.receiver:20} {ESCALATION_PREFIX}{route.receiver:20} route {route.path}"
            f"{' (default route)' if default else ''}  group {route.group_key(labels)}  "
            f"wait {_duration_text(route.group_wait_ms)}, interval {_duration_text(route.group_interval_ms)}, "
            f"repeat {_duration_text(route.repeat_interval_ms)}"
        )
    return EXIT_OK


def _require_cluster(settings: Settings, what: str) -> int | None:
    if settings.embedded:
        return _fail(f"CXSTREAM_KAFKA_BOOTSTRAP is not set: {what} needs the cluster the worker uses", EXIT_CONFIG)
    return None


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from cxstream.connectors.files import FileImport, count_records, file_format
    from cxstream.kafka.connection import aiokafka_options
    from cxstream.kafka.tools import send_all

    ctx = _context(settings)
    if (code := _require_cluster(settings, "import")) is not None:
        return code
    connector = next((c for c in ctx.connectors.values() if c.name == args.source), None)
    if connector is None:
        names = ", ".join(sorted(c.name for c in ctx.connectors.values()))
        return _fail(f"no enabled connector {args.source!r} (enabled: {names})", EXIT_CONFIG)
    path = Path(args.file)
    try:
        file_format(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
    except ValueError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    options = aiokafka_options(settings, settings.kafka_bootstrap)
    job = FileImport(connector, path)
    sent = asyncio.run(send_all(options, connector.raw_topic, job.records(), count_records(path), job.headers))
    print(f"{_count(sent, 'record')} from {path} sent to {connector.raw_topic}, marked manual")
    if job.unparseable_lines:
        shown = ", ".join(map(str, job.unparseable_lines[:10]))
        print(
            f"{len(job.unparseable_lines)} could not be parsed (lines {shown}...): "
            "they will be in cx.dlq with the reason"
        )
    return EXIT_OK


def cmd_dlq(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from cxstream.kafka.connection import aiokafka_options
    from cxstream.kafka.tools import read_dead_letters, replay, summarize

    ctx = _context(settings)
    if (code := _require_cluster(settings, "dlq")) is not None:
        return code
    options = aiokafka_options(settings, settings.kafka_bootstrap)
    records, undecodable = asyncio.run(read_dead_letters(options, ctx.codec(Topics.DLQ)))

    def keep(record: dict[str, Any]) -> bool:
        return (
            (args.source is None or record["source"] == args.source)
            and (args.stage is None or record["stage"] == args.stage.upper())
            and (args.rule is None or any(r["rule_id"] == args.rule for r in record["reasons"]))
        )

    if args.action == "inspect":
        summary = summarize([r for r in records if keep(r)])
        if not summary.total:
            print("no dead letters" + (" matching the filter" if len(records) else ""))
            return EXIT_OK
        first = datetime.fromtimestamp((summary.first_seen or 0) / 1000, UTC).isoformat(timespec="seconds")
        last = datetime.fromtimestamp((summary.last_seen or 0) / 1000, UTC).isoformat(timespec="seconds")
        print(f"{summary.total} dead letters, first {first}, last {last}")
        print(f"{'source':12} {'stage':10} {'rule':26} {'count':>7}  example")
        for (source, stage, rule), count in summary.by_reason.most_common():
            example = summary.example[(source, stage, rule)].replace("\n", " ")[:90]
            print(f"{source:12} {stage:10} {rule:26} {count:>7}  {example}")
        if undecodable:
            print(f"{undecodable} messages on cx.dlq did not decode as DeadLetter records")
        return EXIT_OK
    counts = asyncio.run(replay(options, records, keep, dry_run=args.dry_run))
    verb = "would re-submit" if args.dry_run else "re-submitted"
    for topic, count in sorted(counts.items()):
        print(f"{verb} {_count(count, 'record')} to {topic}")
    if not counts:
        print("nothing to replay")
    return EXIT_OK


# --- topics ---------------------------------------------------------------------------------------------


def _print_reports(reports: Sequence[Any], undeclared: Sequence[Any] = ()) -> None:
    header = f"{'topic':34} {'status':8} {'partitions':>12} {'replication':>12}  {'cleanup':8} {'retention':9}  notes"
    print(header)
    for r in reports:
        spec, actual = r.spec, r.actual
        parts = f"{actual.partitions if actual else '-'}/{spec.partitions}"
        reps = f"{actual.replication if actual else '-'}/{spec.replication}"
        capped = [f"replication capped at {r.capped_replication}"] if r.capped_replication is not None else []
        notes = "; ".join([*r.errors, *r.warnings, *capped])
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

    p = sub.add_parser("run", help="the whole service: broker (embedded unless configured), topics, demo, worker")
    p.add_argument("--demo-rate", type=float, default=20.0, help="demo records per second; 0 runs no demo")
    p.add_argument("--incident", default="delivery-delay-emea", help="demo incident, or none")
    p.add_argument("--incident-after", type=float, default=60.0, help="seconds before the demo incident starts")
    p.set_defaults(handler=cmd_worker)
    p = sub.add_parser("worker", help="one Faust worker (starts the embedded broker if none is configured)")
    p.set_defaults(handler=cmd_worker)
    p = sub.add_parser("broker", help="run the embedded Kafka-wire broker and print its bootstrap address")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default 9092)")
    p.set_defaults(handler=cmd_broker)
    p = sub.add_parser("demo", help="produce realistic CRM, ERP and helpdesk traffic to the raw topics")
    p.add_argument("--rate", type=float, default=20.0, help="records per second (default 20)")
    p.add_argument("--duration", type=float, default=0, help="seconds to run; 0 runs until stopped")
    p.add_argument("--seed", type=int, default=7, help="random seed: the same seed gives the same records")
    p.add_argument("--malformed", type=float, default=0.02, help="share of malformed records (default 0.02)")
    p.add_argument("--incident", default=None, help="delivery-delay-emea or slow-support-apac")
    p.add_argument("--incident-after", type=float, default=60.0, help="seconds before the incident starts")
    p.set_defaults(handler=cmd_demo)
    p = sub.add_parser("connectors", help="installed source connectors and whether the topology enables them")
    p.add_argument("action", choices=["list"])
    p.set_defaults(handler=cmd_connectors)
    p = sub.add_parser("import", help="send a CSV or JSON Lines file of offline/manual records to a raw topic")
    p.add_argument("--source", required=True, help="connector name, e.g. canonical or crm")
    p.add_argument("file", help=".csv, .tsv, .jsonl or .ndjson")
    p.set_defaults(handler=cmd_import)
    p = sub.add_parser("dlq", help="summarize or replay the dead-letter topic")
    p.add_argument("action", choices=["inspect", "replay"])
    p.add_argument("--source", default=None, help="only this source")
    p.add_argument("--stage", default=None, help="only this stage (decode, normalize, validate, ...)")
    p.add_argument("--rule", default=None, help="only records refused by this rule id")
    p.add_argument("--dry-run", action="store_true", help="replay: say what would be re-submitted")
    p.set_defaults(handler=cmd_dlq)
    p = sub.add_parser("topics", help="declared topics on the configured cluster")
    p.add_argument("action", choices=["apply", "list"])
    p.set_defaults(handler=cmd_topics)
    p = sub.add_parser("schemas", help="Avro schema checks")
    p.add_argument("action", choices=["check"])
    p.add_argument("--against", default="main", help="git revision to check compatibility with (default main)")
    p.set_defaults(handler=cmd_schemas)
    p = sub.add_parser("routes", help="the escalation routing tree: show it, or test where labels would go")
    p.add_argument("action", choices=["show", "test"])
    p.add_argument("labels", nargs="*", help="test: labels such as severity=CRITICAL region=emea owner=logistics")
    p.set_defaults(handler=cmd_routes)
    cli_alerts.add_parsers(sub)
    cli_cases.add_parsers(sub)
    cli_cases.add_plan_parser(sub)
    cli_status.add_parser(sub)
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
