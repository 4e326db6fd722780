"""``cxstream`` command line. Exit status: 0 fine, 1 the cluster or data disagrees, 2 bad configuration."""

# One module per group of commands (service, data, setup, alerts, cases, status), sharing cli.common.

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from cxstream import __version__
from cxstream.cli import (
    alerts,
    calendar_cmd,
    cases,
    changes,
    data,
    detection,
    experiments,
    governance,
    handover,
    history,
    impact,
    playbooks,
    rca,
    review,
    scorecards,
    service,
    setup,
    sites,
    spc,
    status,
    targets,
    thresholds,
    workforce,
)
from cxstream.cli.common import EXIT_CONFIG, fail
from cxstream.config.yaml_source import ConfigError
from cxstream.settings import Settings, SettingsError, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cxstream", description=__doc__)
    parser.add_argument("--version", action="version", version=f"cxstream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="the whole service: broker (embedded unless configured), topics, demo, worker")
    p.add_argument("--demo-rate", type=float, default=20.0, help="demo records per second; 0 runs no demo")
    p.add_argument("--incident", default="delivery-delay-emea", help="demo incident, or none")
    p.add_argument("--incident-after", type=float, default=60.0, help="seconds before the demo incident starts")
    p.add_argument("--incident-for", type=float, default=None, help="seconds the demo incident lasts (default: on)")
    p.add_argument("--past-days", type=int, default=365, help="days of demo history loaded first (0: none)")
    p.set_defaults(handler=service.cmd_worker)
    p = sub.add_parser("worker", help="one Faust worker (starts the embedded broker if none is configured)")
    p.set_defaults(handler=service.cmd_worker)
    p = sub.add_parser("broker", help="run the embedded Kafka-wire broker and print its bootstrap address")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default 9092)")
    p.set_defaults(handler=service.cmd_broker)
    p = sub.add_parser("demo", help="produce realistic CRM, ERP and helpdesk traffic to the raw topics")
    p.add_argument("--rate", type=float, default=20.0, help="records per second (default 20)")
    p.add_argument("--duration", type=float, default=0, help="seconds to run; 0 runs until stopped")
    p.add_argument("--seed", type=int, default=7, help="random seed: the same seed gives the same records")
    p.add_argument("--malformed", type=float, default=0.02, help="share of malformed records (default 0.02)")
    p.add_argument("--incident", default=None, help="delivery-delay-emea or slow-support-apac")
    p.add_argument("--incident-after", type=float, default=60.0, help="seconds before the incident starts")
    p.add_argument("--incident-for", type=float, default=None, help="seconds the incident lasts (default: on)")
    p.add_argument("--write-past", default=None, metavar="FILE", help="instead: write a year (--days) of past "
                   "canonical records to FILE (.jsonl), for cxstream import --history")  # fmt: skip
    p.add_argument("--days", type=int, default=365, help="--write-past: days ending yesterday (default 365)")
    p.set_defaults(handler=service.cmd_demo)
    p = sub.add_parser("connectors", help="installed source connectors and whether the topology enables them")
    p.add_argument("action", choices=["list"])
    p.set_defaults(handler=data.cmd_connectors)
    p = sub.add_parser(
        "import", help="send CSV or JSON Lines files of offline/manual records to a raw topic, or past ones to history"
    )
    p.add_argument("--source", required=True, help="connector name, e.g. canonical or crm")
    p.add_argument("file", nargs="+", help=".csv, .tsv, .jsonl or .ndjson")
    p.add_argument(
        "--history",
        action="store_true",
        help="past records: count them straight into metric history days (never the live windows, breaches or invites)",
    )
    p.add_argument("--until", default=None, metavar="DATE", help="--history: only days before this (default: the "
                   "first day the live partitions published)")  # fmt: skip
    p.set_defaults(handler=data.cmd_import)
    p = sub.add_parser("dlq", help="summarize or replay the dead-letter topic")
    p.add_argument("action", choices=["inspect", "replay"])
    p.add_argument("--source", default=None, help="only this source")
    p.add_argument("--stage", default=None, help="only this stage (decode, normalize, validate, ...)")
    p.add_argument("--rule", default=None, help="only records refused by this rule id")
    p.add_argument("--dry-run", action="store_true", help="replay: say what would be re-submitted")
    p.add_argument("--wide", action="store_true", help="inspect: every example reason whole, however long")
    p.set_defaults(handler=data.cmd_dlq)
    p = sub.add_parser("topics", help="declared topics on the configured cluster")
    p.add_argument("action", choices=["apply", "list"])
    p.set_defaults(handler=setup.cmd_topics)
    p = sub.add_parser("schemas", help="Avro schema checks")
    p.add_argument("action", choices=["check"])
    p.add_argument("--against", default="main", help="git revision to check compatibility with (default main)")
    p.set_defaults(handler=setup.cmd_schemas)
    p = sub.add_parser("routes", help="the escalation routing tree: show it, or test where labels would go")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("show", help="the tree with every route's inherited settings")
    t = actions.add_parser(
        "test", help="where an alert with these labels goes, e.g. test severity=CRITICAL owner=billing"
    )
    t.add_argument("labels", nargs="*", help="labels such as severity=CRITICAL region=emea owner=logistics")
    t.add_argument("--tree", action="store_true", help="print the tree with the matching routes marked (*)")
    t.add_argument(
        "--verify-receivers", default=None, metavar="R1,R2", help="exit 1 unless exactly these receivers match"
    )
    p.set_defaults(handler=alerts.cmd_routes)
    alerts.add_parsers(sub)
    detection.add_parsers(sub)
    cases.add_parsers(sub)
    cases.add_plan_parser(sub)
    status.add_parser(sub)
    history.add_parsers(sub)
    workforce.add_parsers(sub)
    scorecards.add_parsers(sub)
    calendar_cmd.add_parsers(sub)
    rca.add_parsers(sub)
    changes.add_parsers(sub)
    spc.add_parsers(sub)
    sites.add_parsers(sub)
    playbooks.add_parsers(sub)
    governance.add_parsers(sub)
    experiments.add_parsers(sub)
    impact.add_parsers(sub)
    thresholds.add_parsers(sub)
    handover.add_parsers(sub)
    targets.add_parsers(sub)
    review.add_parsers(sub)
    p = sub.add_parser("config", help="print the effective settings (secrets masked) after validating all files")
    p.set_defaults(handler=setup.cmd_config)
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
        return fail(str(exc), EXIT_CONFIG)
    except KeyboardInterrupt:
        return 130
