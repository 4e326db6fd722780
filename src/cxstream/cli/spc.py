"""``cxstream spc``: control-chart and funnel-plot what-ifs that need no cluster: a p-chart's centre line and limits,
a funnel's 95 % and 99.8 % limits at given sample sizes, and the Nelson rules that fire on a series in a CSV
file."""

from __future__ import annotations

import argparse
import csv
import json
import math
from itertools import pairwise
from pathlib import Path
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_OK, fail
from cxstream.settings import Settings

D2 = 1.128  # the mean moving range of two normal values is d2 = 1.128 standard deviations


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("spc", help="control-chart and funnel what-ifs: p-chart limits, funnel limits, Nelson rules")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = actions.add_parser("pchart", help="a p-chart's centre line and 3-sigma limits for samples of n")
    c.add_argument("--p", type=float, required=True, help="the centre line: the pooled share, e.g. 0.16")
    c.add_argument("--n", type=int, required=True, help="units in a sample, e.g. 200")
    c.add_argument("--json", action="store_true", help="print JSON: center, ucl, lcl, sigma")
    f = actions.add_parser("funnel", help="a funnel plot's 95 % and 99.8 % limits around p0 at each n")
    f.add_argument("--p0", type=float, required=True, help="the target share, e.g. 0.074")
    f.add_argument("--n", required=True, help="sample sizes, comma-separated, e.g. 50,200,1000")
    f.add_argument("--tau", type=float, default=0.0, help="a random-effect standard deviation to widen by")
    f.add_argument("--json", action="store_true")
    r = actions.add_parser(
        "rules",
        help="the Nelson rules that fire on a series (CSV)",
        description="The CSV has a header: columns hits and n (a p-chart: each period's share against the pooled "
        "one, with its own limits) or a column value (an individuals chart: centre the mean, sigma the mean "
        "moving range / 1.128). Prints every rule that fires and at which rows.",
    )
    r.add_argument("file", type=Path)
    r.add_argument("--centre", type=float, default=None, help="a known centre instead of the series' own")
    r.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_spc)


def cmd_spc(settings: Settings, args: argparse.Namespace) -> int:
    from cxstream.domain.locations.funnel import Z95, Z998, limits, share_se
    from cxstream.domain.locations.spc import p_limits

    if args.action == "pchart":
        try:
            found = p_limits(args.p, args.n)
        except ValueError as exc:
            return fail(str(exc), EXIT_CONFIG)
        row = {"center": args.p, "ucl": round(found.ucl, 6), "lcl": round(found.lcl, 6), "sigma": round(found.sigma, 6),
               "n": args.n}  # fmt: skip
        print(json.dumps(row) if args.json else f"centre {args.p:g}  UCL {found.ucl:.4f}  LCL {found.lcl:.4f}  "
              f"(sigma {found.sigma:.4f} at n={args.n}; LCL floored at 0)")  # fmt: skip
        return EXIT_OK
    if args.action == "funnel":
        try:
            sizes = [int(n) for n in str(args.n).split(",") if n.strip()]
            if not 0 < args.p0 < 1 or not sizes or min(sizes) <= 0 or args.tau < 0:
                raise ValueError("p0 is a share strictly between 0 and 1, each n positive, tau not negative")
        except ValueError as exc:
            return fail(str(exc), EXIT_CONFIG)
        rows = []
        for n in sizes:
            se = share_se(args.p0, n)
            low95, high95 = limits(args.p0, se, args.tau**2, Z95)
            low998, high998 = limits(args.p0, se, args.tau**2, Z998)
            rows.append({"n": n, "lower95": round(low95, 6), "upper95": round(high95, 6),
                         "lower998": round(low998, 6), "upper998": round(high998, 6)})  # fmt: skip
        if args.json:
            print(json.dumps({"p0": args.p0, "tau": args.tau, "limits": rows}))
            return EXIT_OK
        print(f"funnel around p0 {args.p0:g}" + (f" (random effect tau {args.tau:g})" if args.tau else ""))
        for row in rows:
            print(f"  n={row['n']:<7} 95 %: {row['lower95']:.4f}-{row['upper95']:.4f}   99.8 %: "
                  f"{row['lower998']:.4f}-{row['upper998']:.4f}")  # fmt: skip
        return EXIT_OK
    return _rules(args.file, args.centre, args.json)


def _rules(path: Path, centre: float | None, as_json: bool) -> int:
    from cxstream.domain.locations.spc import RULES, Period, nelson, p_chart

    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            raise ValueError("no rows")
        columns = set(rows[0])
        if {"hits", "n"} <= columns:
            periods = [Period(int(r["hits"]), int(r["n"])) for r in rows]
            chart = p_chart(periods, centre)
            kind, z, middle = "p-chart", [p.z for p in chart.points], chart.centre
        elif "value" in columns:
            values = [float(r["value"]) for r in rows]
            middle = centre if centre is not None else sum(values) / len(values)
            ranges = [abs(b - a) for a, b in pairwise(values)]
            sigma = (sum(ranges) / len(ranges)) / D2 if ranges else 0.0
            if not sigma or not math.isfinite(sigma):
                raise ValueError("the series does not vary: no sigma to measure against")
            kind, z = "individuals chart", [(v - middle) / sigma for v in values]
        else:
            raise ValueError("give columns hits,n (a p-chart) or value (an individuals chart)")
    except (OSError, ValueError, KeyError) as exc:
        return fail(f"{path}: {exc}", EXIT_CONFIG)
    firings = nelson(z)
    by_rule: dict[int, list[int]] = {}
    for firing in firings:
        by_rule.setdefault(firing.rule, []).append(firing.at + 1)  # rows counted from 1, after the header
    if as_json:
        print(
            json.dumps(
                {
                    "chart": kind,
                    "centre": middle,
                    "points": len(z),
                    "rules": [
                        {"rule": rule, "name": RULES[rule], "rows": rows_at}
                        for rule, rows_at in sorted(by_rule.items())
                    ],
                }
            )
        )
        return EXIT_OK
    print(f"{path}: {kind} of {len(z)} points, centre {middle:.4g}" if middle is not None else f"{path}: {kind}")
    if not by_rule:
        print("  no Nelson rule fires")
    for rule, rows_at in sorted(by_rule.items()):
        print(f"  rule {rule} ({RULES[rule]}): rows {', '.join(str(r) for r in rows_at)}")
    return EXIT_OK
