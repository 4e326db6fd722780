"""``cxstream staffing erlang``: the planners' what-if calculator (Erlang C, or Erlang A with ``--patience``)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_OK, fail
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.workforce.erlang import Demand, ServiceTarget, Staffing, figures, required
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("staffing", help="agents needed per queue and interval (Erlang C / Erlang A)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = actions.add_parser(
        "erlang",
        help="what-if: agents for a volume, e.g. erlang --contacts 100 --interval 30m --aht 180s",
        description="Agents needed to answer --target of --contacts within --answer-within, and the queue's "
        "figures at that staffing (or at --agents). Erlang C; --patience switches to Erlang A (abandonment).",
    )
    e.add_argument("--contacts", type=float, required=True, help="contacts arriving in the interval")
    e.add_argument("--interval", default="30m", help="the interval's length (default 30m)")
    e.add_argument("--aht", required=True, help="average handle time, e.g. 180s or 6m30s")
    e.add_argument("--answer-within", default="20s", help="service-level time (default 20s)")
    e.add_argument("--target", type=float, default=0.8, help="share answered within it (default 0.8)")
    e.add_argument("--shrinkage", type=float, default=0.0, help="share of paid time off the queue (default 0)")
    e.add_argument("--max-occupancy", type=float, default=1.0, help="cap on agents' busy share (default 1)")
    e.add_argument("--patience", default=None, help="mean patience before abandoning (Erlang A), e.g. 5m")
    e.add_argument("--agents", type=int, default=None, help="the figures with this many agents instead")
    e.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_staffing)


def cmd_staffing(settings: Settings, args: argparse.Namespace) -> int:
    del settings  # the calculator needs no cluster
    try:
        demand = Demand(
            contacts=args.contacts,
            interval_s=parse_duration_ms(args.interval) / 1000,
            handle_s=parse_duration_ms(args.aht) / 1000,
            patience_s=parse_duration_ms(args.patience) / 1000 if args.patience else None,
        )
        target = ServiceTarget(
            answer_within_s=parse_duration_ms(args.answer_within) / 1000,
            service_level=args.target,
            max_occupancy=args.max_occupancy,
            shrinkage=args.shrinkage,
        )
        if args.agents is not None:
            at = figures(demand, args.agents, target.answer_within_s)
            staffing = Staffing(demand.model, demand, target, at)
        else:
            staffing = required(demand, target)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    if args.json:
        print(json.dumps(as_json(staffing), indent=2))
    else:
        print(as_text(staffing, args))
    return EXIT_OK


def as_json(staffing: Staffing) -> dict[str, Any]:
    at = staffing.figures
    out: dict[str, Any] = {
        "model": staffing.model.value,
        "load_erlangs": round(at.load, 6),
        "agents": at.agents,
        "positions": staffing.positions,
        "service_level": at.service_level,
        "occupancy": at.occupancy,
        "waiting_probability": at.waiting_probability,
        "asa_seconds": at.asa_s if math.isfinite(at.asa_s) else None,
        "meets_target": meets(staffing),
    }
    if at.abandonment is not None:
        out["abandonment"] = at.abandonment
    return out


def meets(staffing: Staffing) -> bool:
    at, target = staffing.figures, staffing.target
    return at.service_level >= target.service_level and at.occupancy <= target.max_occupancy + 1e-12


def as_text(staffing: Staffing, args: argparse.Namespace) -> str:
    at, target = staffing.figures, staffing.target
    model = "Erlang A" if at.abandonment is not None else "Erlang C"
    patience = f", patience {args.patience}" if args.patience else ""
    lines = [
        f"{model}: {args.contacts:g} contacts per {args.interval}, handle time {args.aht}{patience}: "
        f"{at.load:.2f} Erlangs offered",
        f"agents            {at.agents}" + ("" if args.agents is not None else " (fewest meeting the target)"),
        f"positions         {staffing.positions} with {_pct(target.shrinkage)} shrinkage",
        f"service level     {_pct(at.service_level)} answered within {args.answer_within} "
        f"(target {_pct(target.service_level)})",
        f"occupancy         {_pct(at.occupancy)} (cap {_pct(target.max_occupancy)})",
        f"waiting           {_pct(at.waiting_probability)} of contacts wait",
        f"ASA               {_seconds(at.asa_s)}"
        + (" (mean wait of every contact)" if at.abandonment is not None else ""),
    ]
    if at.abandonment is not None:
        lines.append(f"abandonment       {_pct(at.abandonment)} of contacts")
    if not meets(staffing):
        lines.append("below target with this many agents")
    return "\n".join(lines)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _seconds(s: float) -> str:
    return "unbounded (fewer agents than the load)" if not math.isfinite(s) else f"{s:.2f} s"
