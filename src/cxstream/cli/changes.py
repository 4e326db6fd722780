"""``cxstream changes``: the remediation backlog from a terminal. Lists items by priority, shows one with its FMEA,
approvals and audit trail, and records actions (propose, analyse, set the change, approve or refuse for a
department, start, roll out, drop, reopen, comment), each checked against the item's current state first, as
the workers will check it, then published to ``cx.remediation``."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, author, cluster, fail
from cxstream.settings import Settings

ACTIONS = {
    "analyse": "ANALYSE", "set-change": "SET_CHANGE", "approve": "APPROVE", "refuse": "REFUSE", "start": "START",
    "rollout": "ROLL_OUT", "drop": "DROP", "reopen": "REOPEN", "comment": "COMMENT", "reprioritise": "REPRIORITISE",
}  # fmt: skip


def _impact_options(a: argparse.ArgumentParser) -> None:
    a.add_argument("--cause-code", default=None, help="root-cause code (cxstream rca causes)")
    a.add_argument("--reach", type=float, default=None, help="affected customers per week")
    a.add_argument("--severity", type=int, default=None, help="1-10")
    a.add_argument("--cost-weeks", type=float, default=None, help="cost to fix in person-weeks")
    a.add_argument("--risk", type=float, default=None, help="chance the fix does not work or harms, 0-1")
    a.add_argument(
        "--request",
        action="append",
        default=[],
        metavar="RESOURCE=WEEKS",
        help="shared capacity asked for, e.g. ux=2 (repeatable; cxstream allocate)",
    )
    a.add_argument("--effect", type=float, default=None, help="expected improvement of the target metric, points")
    a.add_argument("--effect-low", type=float, default=None, help="the effect's low end")
    a.add_argument("--effect-high", type=float, default=None, help="the effect's high end")


def _who(a: argparse.ArgumentParser) -> None:
    a.add_argument("--author", default=None, help="who does it (default the login name)")
    a.add_argument("--role", default=None, help="your role: supervisor or admin approve")
    a.add_argument("--team", action="append", default=[], help="a team you belong to (repeatable; none: all)")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("changes", help="the remediation backlog: list, show, propose, approve, roll out")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    lst = actions.add_parser("list", help="the backlog by priority (--all: also rolled out, verified, dropped)")
    lst.add_argument("--all", action="store_true")
    lst.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one item: change, FMEA, approvals, rollouts, verdicts, audit trail")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    proc = actions.add_parser("procedures", help="which procedure version each site or team runs")
    proc.add_argument("--json", action="store_true")
    alloc = actions.add_parser("allocate", help="shared capacity allocated to backlog items by risk-adjusted value")
    alloc.add_argument("--json", action="store_true")
    prop = actions.add_parser("propose", help="a new remediation item")
    prop.add_argument("--title", required=True)
    prop.add_argument("--where", action="append", default=[], metavar="DIM=VALUE", help="the problem's scope")
    prop.add_argument("--comment", default=None, help="what is known so far")
    prop.add_argument(
        "--source",
        default="manual",
        choices=["manual", "driver", "cut-set"],
        help="where it was found: by a person, a driver that moved, a fault tree's cut set",
    )
    _impact_options(prop)
    _who(prop)
    for name, text in (
        ("analyse", "record the analysis (--comment) and what it found"),
        ("reprioritise", "update reach, severity, cost or risk"),
        ("set-change", "define the change from a YAML file (departments, processes, regulated, FMEA)"),
        ("approve", "approve the change for a department"),
        ("refuse", "refuse the change for a department (--comment: why)"),
        ("start", "work on the approved change starts"),
        ("rollout", "the change is rolled out to a scope (--where site=ams-1)"),
        ("drop", "drop the item (--comment: why)"),
        ("reopen", "reopen a failed, verified or dropped item (--comment: why)"),
        ("comment", "add a comment to the audit trail"),
    ):
        a = actions.add_parser(name, help=text)
        a.add_argument("id")
        a.add_argument("--comment", default=None, required=name in {"analyse", "refuse", "drop", "reopen", "comment"})
        _who(a)
        if name in ("analyse", "reprioritise"):
            _impact_options(a)
        if name == "set-change":
            a.add_argument(
                "--file", type=Path, required=True, help="YAML: description, departments, target_metrics, ..."
            )
        if name in ("approve", "refuse"):
            a.add_argument("--department", required=True)
        if name == "rollout":
            a.add_argument("--where", action="append", required=True, metavar="DIM=VALUE", help="e.g. site=ams-1")
    p.set_defaults(handler=cmd_changes)
    top = sub.add_parser("allocate", help="shared capacity allocated to backlog items by risk-adjusted value "
                         "(the same as cxstream changes allocate)")  # fmt: skip
    top.add_argument("--json", action="store_true")
    top.set_defaults(handler=cmd_changes, action="allocate")


def _pairs(values: list[str]) -> dict[str, str]:
    found = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name or not text:
            raise ValueError(f"--where {value!r}: give DIMENSION=VALUE, e.g. site=ams-1")
        found[name.strip()] = text.strip()
    return found


def cmd_changes(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.catalog import Topics
    from cxstream.domain.remediation.backlog import Backlog
    from cxstream.domain.remediation.records import action_from_record
    from cxstream.kafka.tools import read_decoded

    reached = cluster(settings, "changes")
    if isinstance(reached, int):
        return reached
    ctx, options = reached
    spec = ctx.topology.remediation
    if spec is None:
        return fail("no remediation section in the topology (topologies/remediation.yaml)", EXIT_CONFIG)
    codec = ctx.codec(Topics.REMEDIATION)
    records, bad = asyncio.run(read_decoded(options, codec, Topics.REMEDIATION))
    backlog = Backlog(spec)
    backlog.record_all(action_from_record(r) for r in records)
    if args.action == "allocate":
        return _allocate(backlog, args.json)
    if args.action in ("list", "show", "procedures"):
        code = _read(backlog, args, [s.id for s in ctx.topology.reference.sites])
        if bad:
            print(f"{bad} messages on {Topics.REMEDIATION} did not decode as remediation actions")
        return code
    return _act(ctx, options, backlog, args)


def _read(backlog: Any, args: argparse.Namespace, sites: list[str]) -> int:
    from cxstream.domain.remediation.views import item_view, procedures_json

    if args.action == "procedures":
        rows: list[Any] = procedures_json(backlog.procedures(sites))
        if args.json:
            print(json.dumps(rows, indent=2))
        for row in rows if not args.json else []:
            print(f"{row['procedure']}: newest version {row['newest']}")
            for running in row["running"]:
                print(f"  {running['where']:24} version {running['version']}  ({running['item_id']})")
            if row["behind"]:
                print(f"  behind: {', '.join(b['where'] + ' on ' + b['version'] for b in row['behind'])}")
            if row["not_rolled_out"]:
                print(f"  not rolled out: {', '.join(row['not_rolled_out'])}")
        if not rows and not args.json:
            print("no procedure rolled out yet")
        return EXIT_OK
    if args.action == "show":
        item = backlog.items.get(args.id)
        if item is None:
            return fail(f"no remediation item {args.id!r}", EXIT_FAILED)
        view: dict[str, Any] = item_view(item, backlog, with_trail=True)
        print(json.dumps(view, indent=2) if args.json else _describe(view))
        return EXIT_OK
    listed: list[dict[str, Any]] = [item_view(i, backlog) for i in backlog.ranked(open_only=not args.all)]
    if args.json:
        print(json.dumps(listed, indent=2))
        return EXIT_OK
    if not listed:
        print("the backlog is empty")
    for row in listed:
        p = row["priority"]
        missing = f"  needs: {', '.join(row['missing_approvals'])}" if row["missing_approvals"] else ""
        score = (f"score {p['score']:.1f} [{p['score_low']:.1f}, {p['score_high']:.1f}]"
                 if row["reach_source"] != "unknown" else "score -  (reach unknown)")  # fmt: skip
        print(f"{row['item_id']}  {row['state']:11}  {score}  {row['title']}{missing}")
    return EXIT_OK


def _allocate(backlog: Any, as_json: bool) -> int:
    from cxstream.domain.remediation.allocation import plan
    from cxstream.domain.remediation.views import plan_json

    try:
        found = plan(list(backlog.items.values()), backlog.spec)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    body: dict[str, Any] = plan_json(found, {i.item_id: i.title for i in backlog.items.values()})
    if as_json:
        print(json.dumps(body, indent=2))
        return EXIT_OK
    held = [f"{r} {c:g} (in progress {body['committed'].get(r, 0):g}, used here {body['used'].get(r, 0):g})"
            for r, c in body["capacity"].items()]  # fmt: skip
    print("capacity (weeks): " + ", ".join(held))
    print(f"chosen: value {body['value']} {body['value_unit']}; at every project's low end: "
          f"{body['at_low_end']['value']} with {', '.join(body['at_low_end']['chosen']) or 'nothing'}")  # fmt: skip
    for p in body["projects"]:
        mark = "x" if p["chosen"] else " "
        stays = "" if p["stays_at_low_end"] is None else (
            "  stays at its low end" if p["stays_at_low_end"] else
            f"  at its low end replaced by {', '.join(p['replaced_by']) or 'nothing'}")  # fmt: skip
        asks = ", ".join(f"{r} {w:g}" for r, w in p["requests"].items())
        print(f"  [{mark}] {p['item_id']}  value {p['value']} [{p['value_low']}, {p['value_high']}]  asks {asks}"
              f"  {p['title']}{stays}")  # fmt: skip
    for m in body["missing"]:
        print(f"  [ ] {m['item_id']}  not allocated: lacks {m['lacks']}  {m['title']}")
    return EXIT_OK


def _describe(view: dict[str, Any]) -> str:
    lines = [f"{view['item_id']}  {view['state']}  {view['title']}"]
    cause = view["cause"]
    if cause:
        lines.append(f"  cause      {cause['code']} ({cause['class']}: {cause['display']})")
    lines.append(f"  scope      {', '.join(f'{k}={v}' for k, v in view['labels'].items()) or '-'}")
    p = view["priority"]
    parts = ", ".join(f"{c['name']} {c['value']:g}" for c in p["components"])
    lines.append(f"  priority   {p['score']:.1f} (reach interval: {p['score_low']:.1f}-{p['score_high']:.1f}); {parts}")
    reach = (f"reach {view['reach']:.1f}/week [{view['reach_low']:.1f}, {view['reach_high']:.1f}]"
             if view["reach_source"] != "unknown" else "reach not given: the API and the page measure it where the "
             "cause names a Pareto; or cxstream changes reprioritise --reach N")  # fmt: skip
    lines.append(f"  evidence   {view['evidence']} finding(s); {reach}")
    if view["analysis"]:
        lines.append(f"  analysis   {view['analysis']}")
    change = view["change"]
    if change:
        lines.append(f"  change     {change['description']}")
        lines.append(f"             departments {', '.join(change['departments'])}; regulated {change['regulated']}; "
                     f"procedure {change['procedure'] or '-'} {change['procedure_version'] or ''}")  # fmt: skip
        for mode in view["fmea"]:
            flag = "  BLOCKS APPROVAL (no mitigation)" if mode["blocks_approval"] else ""
            lines.append(f"  fmea       {mode['id']}: S {mode['severity']} O {mode['occurrence']} D {mode['detection']}"
                         f"  RPN {mode['rpn']}  {mode['action_priority']}{flag}")  # fmt: skip
        lines.append(f"  approvals  required {', '.join(view['required_approvals'])}; missing "
                     f"{', '.join(view['missing_approvals']) or 'none'}")  # fmt: skip
    for rollout in view["rollouts"]:
        where = ", ".join(f"{k}={v}" for k, v in rollout["scope"].items())
        lines.append(f"  rolled out {where} at {rollout['at']} (procedure version {rollout['procedure_version']})")
    for verdict in view["verdicts"]:
        lines.append(f"  verdict    {verdict['outcome']}: {verdict['summary']}")
    for entry in view.get("trail", []):
        refused = f"  REFUSED {entry['refused']}" if entry["refused"] else ""
        lines.append(f"  {entry['at']}  {entry['action']:12} {entry['actor']}  {entry['comment'] or ''}{refused}")
    return "\n".join(lines)


def _act(ctx: Any, options: dict[str, Any], backlog: Any, args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from cxstream.config.yaml_source import ConfigError, load_yaml
    from cxstream.domain.base import digest, to_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.remediation.items import Action, Change, ItemAction, Refused, apply, metric_problems
    from cxstream.domain.remediation.records import action_record
    from cxstream.domain.remediation.spec import ChangeFile
    from cxstream.kafka.tools import send_records

    now = datetime.now(UTC)
    try:
        actor = author(args.author)
        where = _pairs(getattr(args, "where", []) or [])
        requests = {k: float(v) for k, v in _pairs(getattr(args, "request", []) or []).items()}
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    kind = ItemAction.PROPOSE if args.action == "propose" else ItemAction(ACTIONS[args.action])
    item_id = f"rem-{digest(f'{args.title}|{now.isoformat()}')}" if args.action == "propose" else args.id
    change = None
    if args.action == "set-change":
        try:
            source = load_yaml(args.file)
            declared = ChangeFile.model_validate(source.data)
        except ConfigError as exc:
            return fail("; ".join(exc.problems), EXIT_CONFIG)
        except ValidationError as exc:
            return fail("; ".join(source.problems_from(exc)), EXIT_CONFIG)
        change = Change(declared.description, tuple(declared.departments), tuple(declared.processes),
                        declared.regulated, declared.procedure, declared.procedure_version,
                        tuple(declared.failure_modes), tuple(declared.target_metrics))  # fmt: skip
        if problems := metric_problems(change, ctx.topology.metrics):
            return fail(f"{args.file}: {'; '.join(problems)}", EXIT_CONFIG)
    action_digest = hashlib.sha256(f"{item_id}|{kind.value}|{actor}|{now.isoformat()}".encode()).hexdigest()[:16]
    action = Action(
        action_id=f"ra-{action_digest}", item_id=item_id, action=kind, actor=actor, at_ms=to_ms(now),
        role=args.role, teams=tuple(args.team), comment=args.comment, title=getattr(args, "title", None),
        source=args.source if kind is ItemAction.PROPOSE else None, cause_code=getattr(args, "cause_code", None),
        labels=where if kind is ItemAction.PROPOSE else {}, reach=getattr(args, "reach", None),
        severity=getattr(args, "severity", None), cost_weeks=getattr(args, "cost_weeks", None),
        risk=getattr(args, "risk", None), change=change, department=getattr(args, "department", None),
        scope=where if kind is ItemAction.ROLL_OUT else {}, requests=requests,
        effect=getattr(args, "effect", None), effect_low=getattr(args, "effect_low", None),
        effect_high=getattr(args, "effect_high", None),
    )  # fmt: skip
    before = backlog.items.get(item_id)
    if before is None and kind is not ItemAction.PROPOSE:
        return fail(f"no remediation item {item_id!r} (cxstream changes list)", EXIT_FAILED)
    try:
        after = apply(before, action, backlog.spec)
    except Refused as refused:
        return fail(f"refused ({refused.rule_id}): {refused.message}", EXIT_FAILED)
    codec = ctx.codec(Topics.REMEDIATION)
    asyncio.run(send_records(options, Topics.REMEDIATION, [(item_id.encode(), codec.encode(action_record(action)))]))
    print(f"{item_id} {kind.value.lower().replace('_', ' ')} recorded: now {after.state.value} ({action.action_id})")
    return EXIT_OK
