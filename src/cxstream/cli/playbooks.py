"""``cxstream playbooks``: the declared playbooks, the one a site runs (with its local adaptations), the rollout map
of versions by site, each wave's before and after with the spread across its sites (from the metric history
on the cluster), and partners' feedback per step with the revisions it makes due (from ``cx.partner-feedback``)."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_OK, cluster, context, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("playbooks", help="playbooks: the one a site runs, the rollout map, each wave's spread")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    lst = actions.add_parser("list", help="the playbooks and the version each site runs today")
    lst.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="a playbook as a site runs it: steps, rules, adaptations")
    show.add_argument("id")
    show.add_argument("--site", default=None, help="the site (default: the central playbook)")
    show.add_argument("--json", action="store_true")
    waves = actions.add_parser("waves", help="each rollout wave: the sites' metrics before and after, and the spread")
    waves.add_argument("id")
    waves.add_argument("--json", action="store_true")
    fb = actions.add_parser("feedback", help="partners' feedback per step, and the revisions it makes due")
    fb.add_argument("--playbook", default=None, help="one playbook (default: all)")
    fb.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_playbooks)


def cmd_playbooks(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.locations.playbooks import rollout_map
    from cxstream.domain.locations.views import effective_json, wave_json

    if args.action in ("list", "show"):
        ctx = context(settings)
        declared = ctx.topology.playbooks
        sites = [s.id for s in ctx.topology.reference.sites]
        regions = {s.id: s.region for s in ctx.topology.reference.sites}
        if args.action == "list":
            versions = rollout_map(declared.playbooks, sites, datetime.now(UTC).date())
            rows = [{"id": p.id, "display": p.display, "version": p.version, "owner": p.owner,
                     "metrics": p.metrics, "sites": versions[p.id]} for p in declared.playbooks]  # fmt: skip
            if args.json:
                print(json.dumps(rows, indent=2))
                return EXIT_OK
            for row in rows:
                running = ", ".join(f"{s} v{v}" for s, v in row["sites"].items() if v) or "nowhere yet"
                waiting = [s for s, v in row["sites"].items() if not v]
                print(f"{row['id']}  v{row['version']}  {row['display']} ({row['owner']}): runs at {running}; "
                      f"not yet at {', '.join(waiting) or 'none'}")  # fmt: skip
            return EXIT_OK
        playbook = declared.playbook(args.id)
        if playbook is None:
            return fail(f"no playbook {args.id!r}", EXIT_CONFIG)
        effective = playbook.for_site(args.site or "", regions.get(args.site or ""))
        body: dict[str, Any] = effective_json(effective)
        if args.json:
            print(json.dumps(body, indent=2))
            return EXIT_OK
        print(f"{playbook.display} v{playbook.version}" + (f" at {args.site}" if args.site else " (central)")
              + (f"; adapted: {'; '.join(body['adaptations'])}" if body["adaptations"] else ""))  # fmt: skip
        for step in body["steps"]:
            print(f"  {step['id']:12} {step['text']}")
        for name, rule in body["rules"].items():
            print(f"  rule {name}: {rule['kind']} {rule['value']}")
        return EXIT_OK
    reached = cluster(settings, f"playbooks {args.action}")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    if args.action == "feedback":
        return _feedback(ctx, options, args)
    playbook = ctx.topology.playbooks.playbook(args.id)
    if playbook is None:
        return fail(f"no playbook {args.id!r}", EXIT_CONFIG)
    from cxstream.domain.catalog import Topics
    from cxstream.domain.locations.playbooks import wave_reports
    from cxstream.kafka.history import read_history

    index, _ = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
    metrics = ctx.topology.metrics
    reports = wave_reports(playbook, metrics, index, ctx.topology.playbooks.compare_days, metrics.min_n,
                           datetime.now(UTC).date())  # fmt: skip
    rows = [wave_json(r) for r in reports]
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for row in rows:
        print(f"{row['wave']} ({row['metric']}): {row['summary']}")
        for site in row["sites"]:
            print(f"  {site['site']:10} before {site['before']} (n={site['n_before']})  after {site['after']} "
                  f"(n={site['n_after']})  change {site['difference']}")  # fmt: skip
    return EXIT_OK


def _feedback(ctx: Any, options: dict[str, Any], args: argparse.Namespace) -> int:
    from cxstream.domain.base import now_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.locations.feedback import FeedbackBook, PartnerFeedback
    from cxstream.domain.locations.views import rule_json, step_json
    from cxstream.kafka.tools import read_decoded

    spec = ctx.topology.playbooks
    if args.playbook is not None and spec.playbook(args.playbook) is None:
        return fail(f"no playbook {args.playbook!r}", EXIT_CONFIG)
    records, _ = asyncio.run(read_decoded(options, ctx.codec(Topics.PARTNER_FEEDBACK), Topics.PARTNER_FEEDBACK))
    book = FeedbackBook()
    for record in records:
        book.add(PartnerFeedback.from_record(record))
    steps = book.steps(spec, now_ms(), lambda r: args.playbook is None or r.playbook == args.playbook)
    if args.json:
        rows = [step_json(s, None, {}) for s in steps]
        print(json.dumps({"rule": rule_json(spec.feedback), "steps": rows}, indent=2))
        return EXIT_OK
    rule = spec.feedback
    print(
        f"{len(book.reports)} reports; a revision is due at {rule.reports} reports from {rule.partners} partners "
        f"on the current version within {rule.window}" + (", or one critical report" if rule.critical_alone else "")
    )
    for step in steps:
        severities = ", ".join(f"{n} {s}" for s, n in step.severities.items()) or "none counted"
        flag = "REVISION DUE" if step.due else "watching"
        print(
            f"{step.playbook} / {step.step}: {step.counted} counted of {step.reports} ({severities}); "
            f"partners {', '.join(step.partners) or '-'}; {flag}: {step.why}"
        )
        for r in step.latest:
            suggestion = f" -> {r.suggestion}" if r.suggestion else ""
            when = datetime.fromtimestamp(r.submitted_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
            print(
                f"  {when} {r.partner} at {r.site or '-'} [{r.severity.value}] v{r.version or '?'}: "
                f"{r.issue}{suggestion}"
            )
    return EXIT_OK
