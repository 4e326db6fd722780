"""``cxstream impact``: what-ifs for analysts that need no cluster: difference-in-differences from four group
means."""

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
