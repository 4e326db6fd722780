"""``cxstream impact``: difference-in-differences from four group means (a what-if that needs no cluster), and a
change's effect from the metric history on the cluster: adjusted by control scopes, beside the pre/post."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_OK, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("impact", help="impact what-ifs: difference-in-differences from group means")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    did = actions.add_parser("did", help="difference-in-differences from the groups' means before and after")
    did.add_argument("--control", required=True, help="the control group's mean before and after, e.g. 23.38,21.10")
    did.add_argument("--treated", required=True, help="the treated group's mean before and after, e.g. 20.43,20.90")
    did.add_argument("--json", action="store_true", help="print JSON (key did)")
    change = actions.add_parser("change", help="a change's effect in one scope from the metric history")
    change.add_argument("--metric", required=True, help="a share or NPS metric, e.g. csat.delivery")
    change.add_argument("--scope", required=True, help="the treated scope, e.g. region:emea or site:ams-1")
    change.add_argument("--rollout", required=True, help="the day it was rolled out, YYYY-MM-DD")
    change.add_argument(
        "--control",
        action="append",
        default=None,
        help="a control scope (repeat); default: the three that track the treated one best before the rollout",
    )
    change.add_argument("--before", type=int, default=56, help="days before the rollout (default 56)")
    change.add_argument("--after", type=int, default=28, help="days after it (default 28)")
    change.add_argument("--json", action="store_true")
    flat = actions.add_parser("plateau", help="a metric's weekly trend in a scope: level shifts and plateau verdict")
    flat.add_argument("--metric", required=True)
    flat.add_argument("--scope", default=None, help="e.g. region:emea (default: everywhere)")
    flat.add_argument("--json", action="store_true")
    audits = actions.add_parser("audits", help="each declared audit's closed periods per scope, and the drifts")
    audits.add_argument("--audit", default=None, help="one audit (default: all)")
    audits.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_impact)


def _pair(text: str, name: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"--{name} takes two numbers, before and after, e.g. 23.38,21.10")
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"--{name} {text!r}: two numbers separated by a comma") from None


def cmd_impact(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.impact.did import from_means

    if args.action == "change":
        return _change(settings, args)
    if args.action == "audits":
        return _audits(settings, args)
    if args.action == "plateau":
        return _plateau(settings, args)
    try:
        control, treated = _pair(args.control, "control"), _pair(args.treated, "treated")
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    did = from_means(control, treated)
    if args.json:
        print(
            json.dumps(
                {
                    "control": list(control),
                    "treated": list(treated),
                    "did": round(did, 10),
                    "treated_change": treated[1] - treated[0],
                    "control_change": control[1] - control[0],
                }
            )
        )
        return EXIT_OK
    print(
        f"treated {treated[0]} -> {treated[1]} ({treated[1] - treated[0]:+.2f}), control {control[0]} -> "
        f"{control[1]} ({control[1] - control[0]:+.2f}): difference-in-differences {did:+.2f}"
    )
    return EXIT_OK


def _change(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, date, datetime

    from cxstream.cli.common import EXIT_FAILED, cluster
    from cxstream.domain.base import now_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.impact.changes import change_impact
    from cxstream.domain.impact.views import impact_json
    from cxstream.kafka.history import read_history
    from cxstream.web.impact import parse_scope

    try:
        treated = parse_scope(args.scope)
        controls = [parse_scope(c) for c in args.control] if args.control else None
        day = date.fromisoformat(args.rollout)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    reached = cluster(settings, "impact change")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    index, _ = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
    metrics = ctx.topology.metrics
    try:
        found = change_impact(index, metrics, args.metric, treated,
                              int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000),
                              controls=controls, days_before=args.before, days_after=args.after, now_ms=now_ms(),
                              alpha=1 - metrics.confidence)  # fmt: skip
    except (KeyError, ValueError) as exc:
        return fail(str(exc).strip("'\""), EXIT_FAILED)
    if args.json:
        print(json.dumps(impact_json(found), indent=2))
        return EXIT_OK
    chosen = ", ".join(",".join(f"{k}={v}" for k, v in c.items()) for c in found.controls) or "none"
    print(
        f"{found.label} ({found.metric}) in {args.scope}, rolled out {args.rollout}; controls "
        f"{'matched' if found.matched else 'declared'}: {chosen}"
    )
    for estimate in (found.adjusted, found.naive, found.did):
        if estimate is not None:
            print(f"  {estimate.summary}")
    if found.trends is not None:
        print(f"  {found.trends.summary}")
    return EXIT_OK


def _audits(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 1 when a scope's latest period drifts."""
    import asyncio

    from cxstream.cli.common import EXIT_FAILED, cluster
    from cxstream.domain.base import now_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.impact.audits import latest, run_audit
    from cxstream.domain.impact.views import audit_json
    from cxstream.domain.locations.gaps import day_to_review
    from cxstream.domain.metrics.spec import DAY_MS
    from cxstream.kafka.history import read_history

    reached = cluster(settings, "impact audits")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    chosen = [a for a in ctx.topology.audits.audits if args.audit in (None, a.id)]
    if args.audit is not None and not chosen:
        return fail(f"no audit {args.audit!r}", EXIT_CONFIG)
    index, _ = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
    metrics = ctx.topology.metrics
    through = day_to_review(now_ms(), metrics.grace_ms) + DAY_MS
    names = {s.id: s.name for s in ctx.topology.reference.sites}
    drifting = False
    rows = []
    for audit in chosen:
        results = run_audit(audit, metrics, index, through, names)
        drifting = drifting or any(r.verdict == "drift" for r in latest(results).values())
        rows.append((audit, results))
    if args.json:
        print(json.dumps([audit_json(a, r) for a, r in rows], indent=2))
        return EXIT_FAILED if drifting else EXIT_OK
    for audit, results in rows:
        print(
            f"{audit.id}: {audit.standard} ({audit.metric}, every {audit.cadence} from {audit.starts}; owner "
            f"{audit.owner})"
        )
        for result in results:
            print(f"  [{result.verdict}] {result.summary}")
        if not results:
            print("  no closed period yet")
    return EXIT_FAILED if drifting else EXIT_OK


def _plateau(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from cxstream.cli.common import EXIT_FAILED, cluster
    from cxstream.domain.base import now_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.impact.plateaus import changes_from_backlog, plateau
    from cxstream.domain.impact.views import plateau_json
    from cxstream.domain.remediation.backlog import Backlog
    from cxstream.domain.remediation.records import action_from_record
    from cxstream.kafka.history import read_history
    from cxstream.kafka.tools import read_decoded
    from cxstream.web.impact import parse_scope

    try:
        where = parse_scope(args.scope) if args.scope else {}
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    reached = cluster(settings, "impact plateau")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    index, _ = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
    items: list[Any] = []
    if ctx.topology.remediation is not None:
        backlog = Backlog(ctx.topology.remediation)
        records, _ = asyncio.run(read_decoded(options, ctx.codec(Topics.REMEDIATION), Topics.REMEDIATION))
        for record in records:
            backlog.record(action_from_record(record))
        items = list(backlog.items.values())
    try:
        found = plateau(index, ctx.topology.metrics, args.metric, where, now_ms(), ctx.topology.impact.plateaus,
                        changes_from_backlog(items, args.metric, where))  # fmt: skip
    except (KeyError, ValueError) as exc:
        return fail(str(exc).strip("'\""), EXIT_FAILED)
    if args.json:
        print(json.dumps(plateau_json(found), indent=2))
        return EXIT_OK
    print(f"{found.label} ({found.metric}) {args.scope or 'everywhere'}: {found.verdict}: {found.summary}")
    for change in found.changes:
        print(f"  {change.item_id} {change.title}: {change.state}, {change.cost_weeks:g} person-weeks")
    return EXIT_OK
