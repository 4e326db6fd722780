"""``cxstream experiments``: planning what-ifs that need no cluster: the units each arm needs to see a move of a
share, and whether the units the arms got match the declared allocation (sample-ratio mismatch)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("experiments", help="experiment what-ifs: units per arm, sample-ratio mismatch")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    plan = actions.add_parser("plan", help="units each arm needs to detect a share moving from baseline to target")
    plan.add_argument("--baseline", type=float, required=True, help="the share today, e.g. 0.80")
    plan.add_argument("--target", type=float, required=True, help="the share to detect, e.g. 0.85")
    plan.add_argument("--alpha", type=float, default=0.05, help="two-sided false-positive rate (default 0.05)")
    plan.add_argument("--power", type=float, default=0.8, help="chance to detect the target move (default 0.8)")
    plan.add_argument("--json", action="store_true", help="print JSON (key per_arm)")
    srm = actions.add_parser("srm", help="sample-ratio mismatch: the units per arm against the allocation")
    srm.add_argument("counts", nargs="+", type=int, help="units seen per arm, e.g. 44000 45000")
    srm.add_argument("--ratio", default="", help="the declared allocation, e.g. 50/50 or 1:1:2 (default: equal)")
    srm.add_argument("--json", action="store_true", help="print JSON (keys chi2, p, alarm)")
    p.set_defaults(handler=cmd_experiments)


def cmd_experiments(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.impact.planning import SRM_ALARM, parse_ratio, per_arm
    from cxstream.domain.impact.planning import srm as mismatch

    try:
        if args.action == "plan":
            units = per_arm(args.baseline, args.target, args.alpha, args.power)
            body: dict[str, Any] = {"baseline": args.baseline, "target": args.target, "alpha": args.alpha,
                                    "power": args.power, "per_arm": units, "total": 2 * units,
                                    "method": "two proportions, Cohen's h, normal approximation"}  # fmt: skip
            print(json.dumps(body) if args.json else
                  f"{units:,} units per arm ({2 * units:,} in all) to detect {args.baseline:.2%} -> {args.target:.2%} "
                  f"at alpha {args.alpha} (two-sided) with power {args.power}")  # fmt: skip
            return EXIT_OK
        found = mismatch(args.counts, parse_ratio(args.ratio, len(args.counts)))
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    body = {"observed": list(found.observed), "expected": [round(e, 2) for e in found.expected],
            "chi2": round(found.chi2, 4), "p": found.p, "alarm": found.alarm, "alarm_below": SRM_ALARM}  # fmt: skip
    print(json.dumps(body) if args.json else found.summary)
    return EXIT_FAILED if found.alarm else EXIT_OK
