"""``cxstream topics``, ``schemas`` and ``config``: the declared topics, schemas and settings."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Any

from cxstream.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    context,
    fail,
)
from cxstream.settings import Settings, env_name


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

    ctx = context(settings)
    if settings.embedded:
        return fail(
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
        return fail(f"cannot reach {settings.kafka_bootstrap}: {type(exc).__name__}: {exc}", EXIT_FAILED)


def cmd_schemas(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.serde.compat import check_schemas

    verdicts, note = check_schemas(settings.schema_dir, args.against)
    for v in verdicts:
        print(f"{'ok ' if v.ok else 'BAD'} {v.name:28} {v.status:12} {v.detail}")
    print(f"{len(verdicts)} schema verdicts; {note}")
    return EXIT_OK if all(v.ok for v in verdicts) else EXIT_FAILED


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:

    ctx = context(settings)  # validates topology and schemas too: a mistake exits here, naming file and line
    for name, value in settings.model_dump().items():
        shown = "(not set)" if value is None else ("***" if "password" in name else value)
        print(f"{env_name(name):40} {shown}")
    print(
        f"\ntopology: {settings.topology_dir} validated ({len(ctx.topology.topics)} topics); "
        f"schemas: {settings.schema_dir} validated"
    )
    return EXIT_OK
