"""``cxstream review --scope region:emea --period 2026-11 [--out FILE]``: the CX review pack of a scope and period
as one self-contained HTML file (metrics with n and intervals against the period before and the target in force,
trends and plateau verdicts, the changes rolled out and their verdicts, the experiments, the audits), built from
the metric history and the topics on the cluster."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_OK, cluster, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("review", help="the CX review pack of a scope and period, as a self-contained HTML file")
    p.add_argument("--scope", default=None, help="e.g. region:emea or site:ams-1 (default: everywhere)")
    p.add_argument("--period", required=True, help="a month (2026-11) or days (2026-11-01..2026-11-30)")
    p.add_argument("--out", type=Path, default=None, help="the file to write (default: review-<scope>-<period>.html)")
    p.set_defaults(handler=cmd_review)


def cmd_review(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.base import now_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.impact.experiments import Experiment
    from cxstream.domain.impact.review import build_review, parse_period
    from cxstream.domain.impact.targets import Target, TargetBook
    from cxstream.domain.remediation.backlog import Backlog
    from cxstream.domain.remediation.records import action_from_record
    from cxstream.kafka.history import read_history
    from cxstream.kafka.tools import read_decoded
    from cxstream.web.impact import parse_scope
    from cxstream.web.review_html import render

    try:
        scope = parse_scope(args.scope) if args.scope else {}
        start, end = parse_period(args.period)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    reached = cluster(settings, "review")
    if isinstance(reached, int):
        return reached
    ctx, options = reached

    def records(topic: str) -> list[Any]:
        found, _ = asyncio.run(read_decoded(options, ctx.codec(topic), topic))
        return found

    index, _ = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
    items: list[Any] = []
    if ctx.topology.remediation is not None:
        backlog = Backlog(ctx.topology.remediation)
        for record in records(Topics.REMEDIATION):
            backlog.record(action_from_record(record))
        items = list(backlog.items.values())
    experiments = {e.experiment_id: e for e in (Experiment.from_record(r) for r in records(Topics.EXPERIMENTS))}
    targets = TargetBook()
    for record in records(Topics.TARGETS):
        targets.add(Target.from_record(record))
    sites = ctx.topology.reference.sites
    pack = build_review(scope, start, end, ctx.topology.metrics, index, items=items,
                        experiments=experiments.values(), audits=ctx.topology.audits, targets=targets,
                        plateaus=ctx.topology.impact.plateaus, regions={s.id: s.region for s in sites},
                        now_ms=now_ms())  # fmt: skip
    label = "-".join(f"{k}-{v}" for k, v in scope.items()) or "all"
    out = args.out or Path(f"review-{label}-{args.period.replace('..', '_')}.html")
    out.write_text(render(pack, {s.id: s.name for s in sites}))
    moved = ", ".join(f"{m.display} {m.change:+.1f}" for m in pack.moved_most) or "nothing beyond its intervals"
    print(
        f"{out}: {len(pack.metrics)} metrics, {len(pack.changes)} changes, {len(pack.experiments)} experiments, "
        f"{len(pack.audits)} audit periods; moved: {moved}"
    )
    return EXIT_OK
