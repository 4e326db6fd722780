"""``cxstream connectors``, ``import`` and ``dlq``: what comes in, and what was refused."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cxstream.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    context,
    count,
    fail,
    require_cluster,
)
from cxstream.domain.catalog import Topics
from cxstream.settings import Settings


def cmd_connectors(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.connectors.registry import installed

    ctx = context(settings)
    enabled = {c.name for c in ctx.connectors.values()}
    print(f"{'name':12} {'raw topic':20} {'enabled':8} description")
    for name, cls in sorted(installed().items()):
        print(f"{name:12} {'cx.raw.' + name:20} {'yes' if name in enabled else 'no':8} {cls.description}")
    return EXIT_OK


def import_inputs(ctx: Any, args: argparse.Namespace) -> tuple[Any, list[Path]] | int:
    """The enabled connector named by ``--source`` and the files to import, or the exit code after saying what
    is wrong with them."""
    from cxstream.connectors.files import file_format

    connector = next((c for c in ctx.connectors.values() if c.name == args.source), None)
    if connector is None:
        names = ", ".join(sorted(c.name for c in ctx.connectors.values()))
        return fail(f"no enabled connector {args.source!r} (enabled: {names})", EXIT_CONFIG)
    paths = [Path(f) for f in args.file]
    try:
        for path in paths:
            file_format(path)
            if not path.is_file():
                raise ValueError(f"{path}: no such file")
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    return connector, paths


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.connectors.files import FileImport, count_records
    from cxstream.kafka.connection import aiokafka_options
    from cxstream.kafka.tools import send_all

    if args.history:
        from cxstream.cli.history import import_history

        return import_history(settings, args)
    ctx = context(settings)
    if (code := require_cluster(settings, "import")) is not None:
        return code
    if args.until:
        return fail("--until applies to --history imports only", EXIT_CONFIG)
    found = import_inputs(ctx, args)
    if isinstance(found, int):
        return found
    connector, paths = found
    options = aiokafka_options(settings, settings.kafka_bootstrap)
    for path in paths:
        job = FileImport(connector, path)
        sent = asyncio.run(send_all(options, connector.raw_topic, job.records(), count_records(path), job.headers))
        print(f"{count(sent, 'record')} from {path} sent to {connector.raw_topic}, marked manual")
        if job.unparseable_lines:
            shown = ", ".join(map(str, job.unparseable_lines[:10]))
            print(
                f"{len(job.unparseable_lines)} could not be parsed (lines {shown}...): "
                "they will be in cx.dlq with the reason"
            )
    return EXIT_OK


EXAMPLE_CHARS = 300  # of one example reason, on a line of its own


def cmd_dlq(settings: Settings, args: argparse.Namespace) -> int:

    from cxstream.domain.ingest.dead_letter import DeadLetter
    from cxstream.kafka.connection import aiokafka_options
    from cxstream.kafka.tools import read_dead_letters, replay, summarize

    ctx = context(settings)
    if (code := require_cluster(settings, "dlq")) is not None:
        return code
    options = aiokafka_options(settings, settings.kafka_bootstrap)
    records, undecodable = asyncio.run(read_dead_letters(options, ctx.codec(Topics.DLQ)))

    def keep(letter: DeadLetter) -> bool:
        return (
            (args.source is None or letter.source == args.source)
            and (args.stage is None or letter.stage == args.stage.upper())
            and (args.rule is None or letter.has_rule(args.rule))
        )

    if args.action == "inspect":
        summary = summarize([r for r in records if keep(r)])
        if not summary.total:
            print("no dead letters" + (" matching the filter" if len(records) else ""))
            return EXIT_OK
        first = datetime.fromtimestamp((summary.first_seen or 0) / 1000, UTC).isoformat(timespec="seconds")
        last = datetime.fromtimestamp((summary.last_seen or 0) / 1000, UTC).isoformat(timespec="seconds")
        print(f"{summary.total} dead letters, first {first}, last {last}")
        print(f"{'source':12} {'stage':10} {'rule':26} {'count':>7}")
        for (source, stage, rule), n in summary.by_reason.most_common():
            example = summary.example[(source, stage, rule)].replace("\n", " ")
            if len(example) > EXAMPLE_CHARS and not args.wide:  # cut at a word, and say so
                cut = example[:EXAMPLE_CHARS].rsplit(" ", 1)[0]
                example = f"{cut} ... ({len(example)} characters; --wide shows it whole)"
            print(f"{source:12} {stage:10} {rule:26} {n:>7}\n    e.g. {example}")
        if undecodable:
            print(f"{undecodable} messages on cx.dlq did not decode as DeadLetter records")
        return EXIT_OK
    done = asyncio.run(replay(options, records, keep, dry_run=args.dry_run))
    verb = "would re-submit" if args.dry_run else "re-submitted"
    if done.from_files:
        print(f"{count(len(done.from_files), 'dead letter')} came from history files (cxstream import --history): "
              "not replayed; fix the file and import it again (the same records count once)")  # fmt: skip
    for topic, n in sorted(done.sent.items()):
        print(f"{verb} {count(n, 'record')} to {topic}")
    if done.unavailable:
        shown = ", ".join(done.unavailable[:5]) + (" ..." if len(done.unavailable) > 5 else "")
        print(f"{count(len(done.unavailable), 'dead letter')} held only part of a record that its topic no longer "
              f"has (retention): not replayed ({shown})")  # fmt: skip
        return EXIT_FAILED
    if not done.sent:
        print("nothing to replay")
    return EXIT_OK
