"""``cxstream thresholds``: customer tolerance curves and threshold proposals from the metric history on the cluster,
and the levels in force with where they came from.

* ``thresholds tolerance [--pair P] [--scope region:emea] [--json]``: per pair and scope, the satisfaction per band
  of the operational value, the monotone curve, the tolerance point with its interval and the slope beyond;
* ``thresholds propose (--rule R | --metric M) [--scope region:emea] [--lookback 91] [--diff | --write-diff FILE]``:
  warning, critical, clear and SLA levels per scope, what each would have done per month, and (on request) the
  change to ``alerting.yaml`` / ``metrics.yaml`` as a unified diff for a person to review and apply;
* ``thresholds list [--json]``: every rule's levels and SLA in force with their origin.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "thresholds", help="customer tolerance, threshold and SLA proposals from history, levels in force"
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    tol = actions.add_parser("tolerance", help="how satisfaction falls with an operational value; the tolerance point")
    tol.add_argument("--pair", default=None, help="a pair of topologies/tolerance.yaml (default: all)")
    tol.add_argument("--scope", default=None, help="one scope, e.g. region:emea (default: over all and per scope)")
    tol.add_argument("--json", action="store_true")
    prop = actions.add_parser("propose", help="warning, critical and SLA levels per scope from history and tolerance")
    which = prop.add_mutually_exclusive_group(required=True)
    which.add_argument("--rule", help="a threshold rule of alerting.yaml")
    which.add_argument("--metric", help="the rules on this metric")
    prop.add_argument("--scope", default=None, help="one scope, e.g. region:emea (default: every scope)")
    prop.add_argument("--lookback", type=int, default=91, help="days of history (default 91)")
    prop.add_argument(
        "--min-n",
        type=int,
        default=None,
        help="a day counts with this many answers or measurements (default: the metric's min_n)",
    )
    prop.add_argument("--diff", action="store_true", help="print the change to the YAML as a unified diff")
    prop.add_argument("--write-diff", type=Path, default=None, help="write that diff to a file (apply: git apply)")
    prop.add_argument("--json", action="store_true")
    show = actions.add_parser("list", help="the levels and SLAs in force and where they came from")
    show.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_thresholds)


def cmd_thresholds(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(settings, args)
    from cxstream.web.impact import parse_scope

    try:
        where = parse_scope(args.scope) if args.scope else None
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    if args.action == "tolerance":
        return _tolerance(settings, args, where)
    return _propose(settings, args, where)


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.cli.common import context
    from cxstream.domain.tolerance.views import in_force_json

    ctx = context(settings)
    rows = in_force_json(ctx.topology.alerting.thresholds, ctx.topology.metrics)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    from cxstream.domain.origin import describe

    metrics = ctx.topology.metrics
    for rule in ctx.topology.alerting.thresholds:
        definition = metrics.definition(rule.metric)
        levels = ", ".join(f"{k} {v:g}" for k, v in (("warning", rule.warning), ("critical", rule.critical),
                                                      ("clear", rule.clear)) if v is not None)  # fmt: skip
        print(f"{rule.id} ({rule.metric}, {rule.direction.value} over {rule.window}): {levels} {definition.unit_name}")
        print(f"  levels: {describe(rule.origin)}")
        for override in rule.overrides:
            merged = rule.levels_merged(override)
            shown = ", ".join(f"{k} {v:g}" for k, v in (("warning", merged.warning), ("critical", merged.critical),
                                                         ("clear", merged.clear)) if v is not None)  # fmt: skip
            print(f"  {','.join(override.matchers)}: {shown}")
        if definition.sla is not None:
            print(f"  SLA {definition.sla}: {describe(definition.sla_origin)}")
    return EXIT_OK


def _history(settings: Settings, what: str) -> tuple[Any, Any] | int:
    import asyncio

    from cxstream.cli.common import cluster
    from cxstream.domain.catalog import Topics
    from cxstream.kafka.history import read_history

    reached = cluster(settings, what)
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    index, _ = asyncio.run(read_history(options, ctx.codec(Topics.HISTORY)))
    return ctx, index


def _tolerance(settings: Settings, args: argparse.Namespace, where: dict[str, str] | None) -> int:
    from cxstream.domain.base import now_ms
    from cxstream.domain.tolerance.curves import curves
    from cxstream.domain.tolerance.views import curve_json

    loaded = _history(settings, "thresholds tolerance")
    if isinstance(loaded, int):
        return loaded
    ctx, index = loaded
    spec = ctx.topology.tolerance
    pairs = [p for p in spec.pairs if args.pair in (None, p.id)]
    if not pairs:
        return fail(f"no tolerance pair {args.pair!r}" if args.pair else "no tolerance pairs declared", EXIT_CONFIG)
    names = {s.id: s.name for s in ctx.topology.reference.sites}
    found = [c for pair in pairs for c in curves(spec, pair, ctx.topology.metrics, index, now_ms(), names, where)]
    if args.json:
        print(json.dumps([curve_json(c) for c in found], indent=2))
        return EXIT_OK
    if not found:
        print("no answers with the operational value in the history yet")
        return EXIT_FAILED
    for curve in found:
        scope = ", ".join(f"{k}={v}" for k, v in curve.scope.items()) or "over all"
        print(f"{curve.pair} ({scope}): {curve.summary}")
        for band in curve.tolerance.bands:
            print(f"  {band.label:>10} {curve.unit:<3} {100 * band.share:5.1f} % (n={band.n:,}, 95 % CI "
                  f"{100 * band.low:.1f}-{100 * band.high:.1f}); curve {100 * band.fitted:.1f}")  # fmt: skip
    return EXIT_OK


def _propose(settings: Settings, args: argparse.Namespace, where: dict[str, str] | None) -> int:
    from datetime import UTC, datetime

    from cxstream.domain.base import now_ms
    from cxstream.domain.tolerance.curves import curves
    from cxstream.domain.tolerance.patch import PatchError, diff, rule_patch, sla_patch
    from cxstream.domain.tolerance.proposals import propose
    from cxstream.domain.tolerance.views import proposal_json

    if args.lookback < 28:
        return fail("--lookback takes at least 28 days", EXIT_CONFIG)
    loaded = _history(settings, "thresholds propose")
    if isinstance(loaded, int):
        return loaded
    ctx, index = loaded
    topology = ctx.topology
    rules = [r for r in topology.alerting.thresholds if args.rule in (None, r.id) and args.metric in (None, r.metric)]
    if not rules:
        return fail(f"no threshold rule {args.rule or 'on ' + str(args.metric)!r}", EXIT_CONFIG)
    now = datetime.now(UTC)
    proposals = []
    for rule in rules:
        pairs = [p for p in topology.tolerance.pairs if p.operational == rule.metric]
        found = [c for p in pairs for c in curves(topology.tolerance, p, topology.metrics, index, now_ms())]
        proposals.append(
            propose(
                rule, topology.metrics, index, now, found, lookback_days=args.lookback, only=where, min_n=args.min_n
            )
        )
    patches = []
    if args.diff or args.write_diff:
        directory = settings.topology_dir
        for proposal in proposals:
            try:
                alerting_text = (directory / "alerting.yaml").read_text(encoding="utf-8")
                patches.append(diff("alerting.yaml", alerting_text, rule_patch(alerting_text, proposal)))
                metrics_text = (directory / "metrics.yaml").read_text(encoding="utf-8")
                changed = sla_patch(metrics_text, proposal)
                if changed is not None:
                    patches.append(diff("metrics.yaml", metrics_text, changed))
            except (OSError, PatchError, ValueError) as exc:
                return fail(f"{proposal.rule}: no change to write: {exc}", EXIT_FAILED)
    if args.write_diff:
        args.write_diff.write_text("".join(patches), encoding="utf-8")
    if args.json:
        print(json.dumps([{**proposal_json(p), "diff": None} for p in proposals], indent=2))
        return EXIT_OK
    for proposal in proposals:
        _print(proposal)
    if args.diff:
        print("".join(patches), end="")
    elif args.write_diff:
        print(f"the change is in {args.write_diff}: review it, then apply it with git apply (or patch -p1)")
    return EXIT_OK


def _print(proposal: Any) -> None:
    print(f"{proposal.rule} ({proposal.metric}, fires {proposal.direction.value}; {proposal.unit}); history "
          f"{proposal.first} to {proposal.last}; live budget {proposal.budget}")  # fmt: skip
    for scope in (proposal.overall, *proposal.scopes):
        name = ", ".join(f"{k}={v}" for k, v in scope.scope.items()) or "over all"
        if scope.warning is None:
            print(f"  {name}: no proposal ({scope.note})")
            continue
        now = scope.current
        print(f"  {name}: warning {scope.warning:g}, critical {scope.critical:g}, clear {scope.clear:g} "
              f"(now {now.warning}, {now.critical}, {now.clear}); median day {scope.median:.2f} over {scope.days} "
              f"days, n={scope.n:,}; from {scope.basis}")  # fmt: skip
        if scope.tolerance:
            print(f"    {scope.tolerance}")
        if scope.sla is not None:
            print(f"    SLA target: within {scope.sla:g} {proposal.unit}")
        if scope.note:
            print(f"    note: {scope.note}")
        for m in scope.months:
            print(f"    {m.month}: {m.days} days; at warning or worse {m.current_warning} now -> {m.warning} proposed; "
                  f"critical {m.current_critical} -> {m.critical}")  # fmt: skip
