"""CX scorecards from this worker's ticket feed (every worker reads ``cx.events`` whole for them):

* ``GET /api/scorecards?team=billing&period=day&date=2026-12-04`` (``period``: ``day``, ``week`` starting
  Monday, or ``hours`` with ``hours=8``: the huddle's last shift) - the team's agents with CSAT and CES credited
  by the attribution rule (``attribution=`` overrides the declared one), first-contact resolution, reopen rate,
  handle time against the tier norm, each raw with its interval and shrunk toward the team with its credible
  interval and n; the incentive index with each component's contribution; coaching flags with the evidence
  (tickets, scores and what the customer wrote, masked for roles without personal-data permission).
  ``chart=svg`` adds the CSAT and FCR charts (one row per agent, the team's value drawn across).

A token limited to regions does not read scorecards (a team's agents answer every region's tickets); a token
limited to teams reads its teams'.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import faust

from cxstream.agents.scorecards import TicketFeed
from cxstream.domain.access.principal import Principal, masked
from cxstream.domain.base import from_ms, now_ms, to_ms
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.workforce.scorecards import AgentCard, Share, TeamCard, scorecard
from cxstream.domain.workforce.spec import Attribution, ScorecardSpec
from cxstream.web import charts
from cxstream.web.auth import Denied, Gate, refuse

COMPONENT_NAMES = {"csat": "CSAT", "ces": "CES (easy)", "fcr": "first-contact resolution", "reopen": "reopen rate",
                   "handle_time": "speed against the tier norm"}  # fmt: skip


def period_of(query: Mapping[str, str], today: date, at_ms: int) -> tuple[int, int, str]:
    """[start, end) and a label for the asked period; ValueError names what is wrong."""
    period = query.get("period", "day")
    try:
        day = date.fromisoformat(query["date"]) if query.get("date") else today
    except ValueError:
        raise ValueError("date is a day such as 2026-12-04") from None
    midnight = to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))
    if period == "day":
        return midnight, midnight + DAY_MS, f"{day}"
    if period == "week":
        monday = midnight - day.weekday() * DAY_MS
        return monday, monday + 7 * DAY_MS, f"week of {from_ms(monday).date()}"
    if period == "hours":
        try:
            hours = int(query.get("hours", "8"))
        except ValueError:
            raise ValueError("hours is a whole number") from None
        if not 1 <= hours <= 24 * 7:
            raise ValueError("hours is between 1 and 168")
        return at_ms - hours * 3_600_000, at_ms + 1, f"last {hours} hours"
    raise ValueError("period is day, week or hours")


def share_json(s: Share) -> dict[str, Any]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    return {"hits": round(s.hits, 3), "n": round(s.n, 3), "raw": r(s.raw), "raw_low": r(s.raw_low),
            "raw_high": r(s.raw_high), "shrunk": r(s.shrunk), "low": r(s.low), "high": r(s.high),
            "p_worse": r(s.p_worse)}  # fmt: skip


def agent_json(card: AgentCard, principal: Principal) -> dict[str, Any]:
    h = card.handle
    return {
        "agent": card.agent,
        "csat": share_json(card.csat),
        "ces": share_json(card.ces),
        "fcr": share_json(card.fcr),
        "reopen": share_json(card.reopen),
        "handle_time": {"ratio": _round(h.ratio), "low": _round(h.low), "high": _round(h.high), "n": h.n},
        "index": _round(card.index, 1),
        "contributions": {c: round(v, 1) for c, v in card.contributions.items()},
        "flags": [
            {
                "component": f.component,
                "name": COMPONENT_NAMES[f.component],
                "p_value": float(f"{f.p_value:.3g}"),
                "comparisons": f.comparisons,
                "agent": round(f.agent, 4),
                "team": round(f.team, 4),
            }
            for f in card.flags
        ],
        "evidence": [
            masked(
                {
                    "ticket_id": e.ticket_id,
                    "metric": e.metric,
                    "score": e.score,
                    "at": from_ms(e.at_ms).isoformat(),
                    "weight": round(e.weight, 3),
                    "verbatim": e.verbatim,
                },
                principal,
            )
            for e in card.evidence
        ],
    }


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def card_json(card: TeamCard, principal: Principal, label: str, team_name: str) -> dict[str, Any]:
    return {
        "team": card.team,
        "team_name": team_name,
        "period": label,
        "from": from_ms(card.start_ms).isoformat(),
        "to": from_ms(min(card.end_ms, now_ms())).isoformat(),
        "attribution": card.attribution.value,
        "confidence": card.confidence,
        "tickets": card.tickets,
        "team_totals": {c: share_json(s) for c, s in card.totals.items()},
        "priors": {
            c: ({"mean": round(p.mean, 4), "strength": round(p.strength, 1)} if p else None)
            for c, p in card.priors.items()
        },
        "weights": dict(card.weights),
        "ranking": "none: agents are listed by id; a coaching flag is a Benjamini-Hochberg discovery over the team's "
        f"comparisons at a false-discovery rate of {card.fdr:g}",
        "agents": [agent_json(a, principal) for a in card.agents],
    }


def card_charts(card: TeamCard) -> dict[str, str]:
    """CSAT and first-contact resolution per agent (shrunk, with credible intervals), the team's value across."""
    out = {}
    level = round(card.confidence * 100)
    for component, name in (("csat", "CSAT"), ("fcr", "First-contact resolution")):
        total = card.totals[component]
        rows = []
        for agent in card.agents:
            s: Share = getattr(agent, component)
            flagged = any(f.component == component for f in agent.flags)
            rows.append(charts.Estimate(agent.agent, _pct(s.shrunk), _pct(s.low), _pct(s.high), s.n, flagged))
        reference = (charts.Level(f"team {total.raw * 100:.0f}% (n={total.n:.4g})", total.raw * 100, "target")
                     if total.raw is not None else None)  # fmt: skip
        out[component] = charts.forest(
            f"{name} per agent, shrunk toward the team, {level} % credible interval (n = credited answers)",
            rows, reference, "%",
        )  # fmt: skip
    return out


def _pct(x: float | None) -> float | None:
    return None if x is None else 100 * x


def register(app: faust.App, gate: Gate, spec: ScorecardSpec, feed: TicketFeed | None,
             teams: Mapping[str, str]) -> None:  # fmt: skip
    @app.page("/api/scorecards")
    async def scorecards(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        if principal.regions:
            return refuse(view, Denied(403, f"{principal.name} reads some regions only; a team's scorecard spans "
                                            "every region it answers"))  # fmt: skip
        readable = [t for t in teams if principal.in_scope(None, t)]
        query = request.query
        team = query.get("team") or (readable[0] if readable else "")
        if team not in teams:
            return view.json({"error": f"no team {team!r}", "teams": readable}, status=404)
        if team not in readable:
            return refuse(view, Denied(403, f"{principal.name} does not read team {team}"))
        if feed is None:
            return view.json({"error": "no ticket feed on this worker"}, status=404)
        if not feed.ready:
            return view.json({"error": "the ticket feed is still reading cx.events; try again"}, status=503)
        at = now_ms()
        try:
            start, end, label = period_of(query, datetime.now(UTC).date(), at)
            attribution = Attribution(query["attribution"]) if query.get("attribution") else None
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        if start < at - feed.keep_ms:
            return view.json({"error": f"the ticket feed keeps {feed.keep_ms // DAY_MS} days"}, status=400)
        card = scorecard(list(feed.tickets.values()), team, start, end, spec, attribution)
        body = card_json(card, principal, label, teams[team])
        body["teams"] = [{"id": t, "name": teams[t]} for t in readable]
        if query.get("chart") == "svg":
            body["charts"] = card_charts(card)
        return view.json(body)
