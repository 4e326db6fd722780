"""``cxstream scorecard``: a team's agents' CX scorecards, read straight from ``cx.events`` on the cluster (the
same computation as ``GET /api/scorecards``)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from cxstream.cli.common import EXIT_CONFIG, EXIT_OK, fail
from cxstream.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "scorecard",
        help="a team's agents: CSAT/CES credited by the attribution rule, FCR, reopens, handle time, index",
        description="Reads cx.events from the cluster and prints the team's scorecard: per agent CSAT and CES "
        "credited by the attribution rule, first-contact resolution, reopen rate (raw with n and interval, and "
        "shrunk toward the team), handle time against the tier norm, the incentive index with each component's "
        "contribution, and the coaching flags.",
    )
    p.add_argument("--team", required=True, help="a team id (topologies/teams.yaml)")
    p.add_argument("--day", default=None, help="a day, e.g. 2026-12-04 (default today, UTC)")
    p.add_argument("--week", action="store_true", help="the week (from Monday) holding --day instead")
    p.add_argument("--hours", type=int, default=None, help="the last N hours instead (e.g. 8: the last shift)")
    p.add_argument("--attribution", default=None, choices=["last_assignee", "last_reply", "touches"],
                   help="who a rating is credited to (default: as declared in workforce.yaml)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the API's JSON (GET /api/scorecards)")
    p.set_defaults(handler=cmd_scorecard)


def cmd_scorecard(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from cxstream.agents.scorecards import TicketFeed
    from cxstream.cli.common import cluster
    from cxstream.domain.access.principal import Principal, Role
    from cxstream.domain.base import now_ms
    from cxstream.domain.catalog import Topics
    from cxstream.domain.workforce.scorecards import scorecard
    from cxstream.domain.workforce.spec import Attribution
    from cxstream.kafka.tools import read_to_end
    from cxstream.web.scorecards import card_json, period_of

    found = cluster(settings, "scorecard")
    if isinstance(found, int):
        return found
    ctx, options = found
    teams = {t.id: t.name for t in ctx.topology.teams}
    if args.team not in teams:
        return fail(f"no team {args.team!r} (declared: {', '.join(teams)})", EXIT_CONFIG)
    query = {"date": args.day or "", "period": "hours" if args.hours else "week" if args.week else "day",
             "hours": str(args.hours or 8)}  # fmt: skip
    at = now_ms()
    try:
        start, end, label = period_of(query, datetime.now(UTC).date(), at)
    except ValueError as exc:
        return fail(str(exc), EXIT_CONFIG)
    spec = ctx.topology.workforce.scorecards
    feed = TicketFeed(options, ctx.codec(Topics.EVENTS), spec)

    async def read() -> None:
        async for message in read_to_end(options, Topics.EVENTS):
            feed.apply(message.key, message.value)

    asyncio.run(read())
    rule = Attribution(args.attribution) if args.attribution else None
    card = scorecard(list(feed.tickets.values()), args.team, start, end, spec, rule)
    body = card_json(card, Principal("cli", Role.ADMIN), label, teams[args.team])
    if args.json:
        print(json.dumps(body, indent=2))
        return EXIT_OK
    print("\n".join(scorecard_lines(body)))
    return EXIT_OK


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _share(s: dict[str, Any]) -> str:
    if not s["n"]:
        return "-"
    return f"{_pct(s['shrunk'])} ({_pct(s['low'])}-{_pct(s['high'])}) n={s['n']:g}"


def scorecard_lines(body: dict[str, Any]) -> list[str]:
    """The scorecard for a terminal: the team line, then one row per agent (listed by id, not ranked)."""
    totals = body["team_totals"]
    lines = [
        f"{body['team_name']} ({body['team']}), {body['period']}: {body['tickets']} tickets; ratings credited by "
        f"{body['attribution'].replace('_', ' ')}; shares shrunk toward the team, {round(body['confidence'] * 100)} % "
        "credible intervals",
        f"team: CSAT {_pct(totals['csat']['raw'])} (n={totals['csat']['n']:g}), CES easy {_pct(totals['ces']['raw'])} "
        f"(n={totals['ces']['n']:g}), FCR {_pct(totals['fcr']['raw'])} (n={totals['fcr']['n']:g}), reopened "
        f"{_pct(totals['reopen']['raw'])} (n={totals['reopen']['n']:g})",
        f"  {'agent':14} {'CSAT':26} {'FCR':26} {'reopened':26} {'handle/norm':16} {'index':>6}  contributions",
    ]
    for agent in body["agents"]:
        h = agent["handle_time"]
        handle = f"{h['ratio']:.2f} n={h['n']}" if h["ratio"] is not None else "-"
        index = f"{agent['index']:.0f}" if agent["index"] is not None else "-"
        parts = ", ".join(f"{c} {v:+.1f}" for c, v in agent["contributions"].items())
        lines.append(f"  {agent['agent']:14} {_share(agent['csat']):26} {_share(agent['fcr']):26} "
                     f"{_share(agent['reopen']):26} {handle:16} {index:>6}  {parts}")  # fmt: skip
        for flag in agent["flags"]:
            tickets = ", ".join(e["ticket_id"] for e in agent["evidence"])
            lines.append(
                f"    coach on {flag['name']}: {_pct(flag['agent'])} against the team's {_pct(flag['team'])} "
                f"(one-sided p={flag['p_value']:.2g} among {flag['comparisons']} comparisons); tickets {tickets}"
            )
    lines.append(
        "agents are listed by id, not ranked; " + body["ranking"].removeprefix("none: agents are listed by id; ")
    )
    return lines
