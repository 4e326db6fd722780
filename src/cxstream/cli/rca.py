"""``cxstream rca``: root-cause analysis from a terminal. What-ifs that need no cluster (the minimal cut sets and
top-event probability of a fault tree in a file; an FMEA rating's RPN and action priority), the root-cause
taxonomy, and, on the cluster the workers use, the declared fault trees with their live evidence and the driver
Paretos."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_OK, context, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("rca", help="root causes: taxonomy, drivers, fault trees, FMEA what-ifs")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    t = actions.add_parser(
        "fault-tree",
        help="minimal cut sets and top-event probability of a fault tree in a YAML file",
        description="The file holds one tree: top (a gate), gates (name: {gate: AND|OR, inputs: [...]}) and events "
        "(name: {probability: p}). Prints the minimal cut sets (MOCUS), the exact top-event probability for "
        "independent basic events, and two upper bounds: the rare-event approximation and the min-cut bound.",
    )
    t.add_argument("file", type=Path)
    t.add_argument("--json", action="store_true", help="print JSON: cut_sets, probability, rare_event_bound, ...")
    f = actions.add_parser("fmea", help="the RPN and action priority of one failure mode's ratings")
    f.add_argument("--severity", type=int, required=True, help="1-10")
    f.add_argument("--occurrence", type=int, required=True, help="1-10")
    f.add_argument("--detection", type=int, required=True, help="1-10 (10: cannot be detected)")
    f.add_argument("--json", action="store_true", help="print JSON: rpn, action_priority")
    c = actions.add_parser("causes", help="the declared root-cause taxonomy (codes cases are resolved with)")
    c.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_rca)


def cmd_rca(settings: Settings, args: argparse.Namespace) -> int:
    ctx = context(settings)
    spec = ctx.topology.remediation
    if args.action == "fault-tree":
        return _fault_tree(args.file, args.json)
    if spec is None:
        return fail("no remediation section in the topology (topologies/remediation.yaml)", EXIT_CONFIG)
    if args.action == "fmea":
        try:
            priority = spec.fmea.priority(args.severity, args.occurrence, args.detection)
        except ValueError as exc:
            return fail(str(exc), EXIT_CONFIG)
        rpn = args.severity * args.occurrence * args.detection
        row = {"severity": args.severity, "occurrence": args.occurrence, "detection": args.detection, "rpn": rpn,
               "action_priority": priority.value}  # fmt: skip
        if args.json:
            print(json.dumps(row))
        else:
            print(f"S {args.severity}  O {args.occurrence}  D {args.detection}  RPN {rpn}  action priority "
                  f"{priority.value} (AIAG-VDA table in remediation.fmea)")  # fmt: skip
        return EXIT_OK
    causes = spec.root_causes
    rows = [{"code": c.code, "class": c.cause_class, "class_name": causes.classes[c.cause_class],
             "display": c.display, "department": c.department} for c in causes.codes]  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(f"root-cause codes ({'required' if causes.required else 'optional'} when a case is resolved)")
    for row in rows:
        print(f"  {row['code']:26} {row['class_name']:16} {row['display']}"
              + (f"  [{row['department']}]" if row["department"] else ""))  # fmt: skip
    return EXIT_OK


def _fault_tree(path: Path, as_json: bool) -> int:
    from pydantic import ValidationError

    from cxstream.config.yaml_source import ConfigError, load_yaml
    from cxstream.domain.remediation.fault_tree import (
        FaultTree,
        fixed_probabilities,
        minimal_cut_sets,
        ranked_cut_sets,
        top_probability,
    )

    try:
        source = load_yaml(path)
    except ConfigError as exc:
        return fail("; ".join(exc.problems), EXIT_CONFIG)
    if not isinstance(source.data, dict):
        return fail(f"{path}: a fault tree is a mapping (top, gates, events)", EXIT_CONFIG)
    data = {"id": "what-if", "display": "top event", **source.data}
    try:
        tree = FaultTree.model_validate(data)
        p = fixed_probabilities(tree)
    except ValidationError as exc:
        return fail("; ".join(source.problems_from(exc)), EXIT_CONFIG)
    except ValueError as exc:
        return fail(f"{path}: {exc}", EXIT_CONFIG)
    cuts = minimal_cut_sets(tree)
    result = top_probability(tree, p, cuts)
    ranked = ranked_cut_sets(cuts, p)
    if as_json:
        print(json.dumps({
            "cut_sets": [sorted(c) for c in cuts],
            "probability": _num(result.best),
            "exact": result.exact is not None,
            "rare_event_bound": _num(result.rare_event),
            "min_cut_bound": _num(result.min_cut_bound),
            "ranked": [{"events": list(r.events), "probability": _num(r.probability), "share": _num(r.share)}
                       for r in ranked],
        }, indent=2))  # fmt: skip
        return EXIT_OK
    print(f"{tree.display}: {len(cuts)} minimal cut sets")
    for r in ranked:
        print(f"  {{{', '.join(r.events)}}}  P {r.probability:.6g}  ({100 * r.share:.1f} % of the rare-event sum)")
    exact = f"{result.exact:.6g}" if result.exact is not None else "not computed (too many shared events)"
    print(f"top event: exact {exact}; upper bounds: min-cut {result.min_cut_bound:.6g}, rare-event "
          f"{result.rare_event:.6g}")  # fmt: skip
    return EXIT_OK


def _num(value: float) -> float:
    """A probability without the float noise of its arithmetic (0.0694, not 0.06940000000000002)."""
    return round(value, 12)
