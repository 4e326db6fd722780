"""Staffing reads from this worker's copy of the metric history (every worker reads the whole topic):

* ``GET /api/workforce`` - the declared queues the token may read, with their targets and staffing model;
* ``GET /api/workforce/{queue}?day=2026-12-07&days=1&chart=svg`` - the queue's forecast per interval (arrivals
  with the prediction interval and its n of past weeks, what arrived where known, handle time with its n,
  workload), the agents and positions needed and the queue's figures at that staffing, and the forecast's
  accuracy on the last complete days (WAPE per interval and per day). ``chart=svg`` adds the two charts the page
  shows.

Both carry ``live`` per queue: the agents on the floor now (from agent-status events) by status, the look-ahead's
intervals with the agents needed and the service level the floor gives (with its range over the forecast's
prediction interval), and the open staffing gap. The floor lives on the worker holding the routing side's
tables; another worker asks it.

A queue spanning scopes outside the token's (a regional token and an all-regions queue) is refused: part of a
queue's contacts would give a wrong staffing figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import faust

from cxstream.agents.history import HistoryFeed
from cxstream.agents.staffing import Staffing
from cxstream.domain.access.principal import OutOfScope, Principal
from cxstream.domain.base import from_ms, now_ms, to_ms
from cxstream.domain.topology import Topology
from cxstream.domain.workforce.erlang import ServiceTarget
from cxstream.domain.workforce.gaps import GapState, IntervalOutlook, Outlook, describe
from cxstream.domain.workforce.plan import IntervalStaffing
from cxstream.domain.workforce.queues import QueuePlan, queue_plan
from cxstream.domain.workforce.spec import Queue, Workforce
from cxstream.web import charts
from cxstream.web.auth import Denied, Gate, refuse
from cxstream.web.estimates import estimate_json
from cxstream.web.peers import ask_holders, held, is_local


def target_json(target: ServiceTarget, patience_s: float | None) -> dict[str, Any]:
    return {
        "answer_within_seconds": target.answer_within_s,
        "service_level": target.service_level,
        "max_occupancy": target.max_occupancy,
        "shrinkage": target.shrinkage,
        "patience_seconds": patience_s,
    }


def queue_json(workforce: Workforce, queue: Queue) -> dict[str, Any]:
    patience = workforce.patience_s(queue)
    return {
        "id": queue.id,
        "display": queue.display,
        "where": dict(queue.where),
        "team": queue.team,
        "model": "erlang_c" if patience is None else "erlang_a",
        "target": target_json(workforce.service_target(queue), patience),
    }


def _finite(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, digits)


def interval_json(one: IntervalStaffing) -> dict[str, Any]:
    f = one.forecast
    at = one.staffing.figures if one.staffing else None
    return {
        "start": f.start.isoformat(),
        "end": f.end.isoformat(),
        "arrivals": {"forecast": _finite(f.arrivals, 2), "low": f.low, "high": f.high, "weeks": f.weeks},
        "actual": f.actual,
        "yearly_factor": _finite(f.yearly),
        "handle_time": {"seconds": _finite(f.handle_s, 1), "n": f.handle_n},
        "workload_erlangs": _finite(f.workload, 3),
        "agents": one.agents,
        "positions": one.positions,
        "agents_high": one.agents_high,
        "service_level": _finite(at.service_level) if at else None,
        "occupancy": _finite(at.occupancy) if at else None,
        "waiting_probability": _finite(at.waiting_probability) if at else None,
        "asa_seconds": _finite(at.asa_s, 2) if at else None,
        "abandonment": _finite(at.abandonment) if at and at.abandonment is not None else None,
    }


def plan_json(workforce: Workforce, plan: QueuePlan) -> dict[str, Any]:
    forecast, accuracy = plan.forecast, plan.forecast.accuracy
    insufficient = None
    if not forecast.sufficient:
        insufficient = (f"insufficient history: {forecast.history_days} complete days; each interval needs the same "
                        "interval on at least 2 past weeks")  # fmt: skip
    return {
        "queue": queue_json(workforce, plan.queue),
        "interval_minutes": forecast.step_ms // 60_000,
        "confidence": forecast.confidence,
        "history": {
            "days": forecast.history_days,
            "through": forecast.through.isoformat() if forecast.through else None,
        },
        "accuracy": {
            "days": accuracy.days,
            "intervals": accuracy.intervals,
            "wape_interval": _finite(accuracy.wape_interval),
            "wape_day": _finite(accuracy.wape_day),
            "inside_interval": _finite(accuracy.inside),
        },
        "insufficient": insufficient,
        "yearly": (
            {
                "factor": round(forecast.yearly.factor, 4),
                "days": forecast.yearly.days,
                "week_mean": round(forecast.yearly.week_mean, 2),
                "base_mean": round(forecast.yearly.base_mean, 2),
                "note": None,
            }
            if forecast.yearly
            else {"factor": None, "days": 0, "note": forecast.yearly_note}
        ),
        "tiers": [
            {
                "tier": t.tier,
                "display": t.display,
                "handle_time": estimate_json(t.handle_time),
                "share": round(t.share, 4),
            }
            for t in plan.tiers
        ],
        "intervals": [interval_json(one) for one in plan.staffing],
    }


def live_json(outlook: Outlook, gap: GapState | None, workforce: Workforce, at_ms: int) -> dict[str, Any]:
    """A queue now: its floor, the look-ahead weighed against it, and its open staffing gap."""
    spec = workforce.gaps
    severity = outlook.severity(spec)
    floor = outlook.floor
    open_gap = None
    if gap is not None and gap.open_id is not None:
        since = from_ms(gap.started_ms).isoformat() if gap.started_ms is not None else None
        open_gap = {"breach_id": gap.open_id, "severity": gap.severity.value if gap.severity else None, "since": since}
    return {
        "at": from_ms(at_ms).isoformat(),
        "floor": {"staffed": floor.staffed, "agents": floor.agents, "by_status": dict(floor.by_status)},
        "look_ahead_minutes": spec.look_ahead_ms // 60_000,
        "insufficient": outlook.insufficient,
        "severity": severity.value if severity else None,
        "summary": describe(outlook),
        "confidence": outlook.confidence,
        "intervals": [_outlook_interval(i) for i in outlook.intervals],
        "gap": open_gap,
    }


def _outlook_interval(i: IntervalOutlook) -> dict[str, Any]:
    return {
        "start": i.start.isoformat(),
        "end": i.end.isoformat(),
        "required": i.required,
        "staffed": i.staffed,
        "short": i.short,
        "arrivals": {"forecast": round(i.arrivals, 2), "low": i.low, "high": i.high, "weeks": i.weeks},
        "handle_time": {"seconds": round(i.handle_s, 1), "n": i.handle_n},
        "service_level": round(i.service_level, 4),
        "service_level_low": round(i.service_level_low, 4),
        "service_level_high": round(i.service_level_high, 4),
    }


def plan_charts(plan: QueuePlan, live: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Contacts per interval (forecast with its band, and what arrived) and the agents needed (with the agents on
    the floor now over the look-ahead, when ``live`` has them)."""
    step_min = plan.forecast.step_ms // 60_000
    level = round(plan.forecast.confidence * 100)
    forecast, arrived, agents = [], [], []
    for one in plan.staffing:
        f = one.forecast
        mid = (to_ms(f.start) + to_ms(f.end)) // 2
        forecast.append(charts.Point(mid, f.arrivals, f.low, f.high, f.weeks))
        if f.actual is not None:
            arrived.append(charts.Point(mid, f.actual, n=1))
        high = float(one.agents_high) if one.agents_high is not None else None
        agents.append(charts.Point(mid, float(one.agents) if one.agents is not None else None,
                                   float(one.agents) if one.agents is not None else None, high, f.weeks))  # fmt: skip
    floor = []
    for one in (live or {}).get("intervals", []):
        start, end = datetime.fromisoformat(one["start"]), datetime.fromisoformat(one["end"])
        if plan.staffing and plan.staffing[0].forecast.start <= start < plan.staffing[-1].forecast.end:
            floor.append(charts.Point((to_ms(start) + to_ms(end)) // 2, float(one["staffed"]), n=one["staffed"]))
    name = plan.queue.display
    contacts = charts.trend(
        f"{name}: contacts per {step_min} minutes, forecast with its {level} % interval (n = past weeks)",
        "contacts",
        [charts.Series(f"forecast ({level} %)", tuple(forecast)), charts.Series("arrived", tuple(arrived))],
        width=900, height=260, font=14,
    )  # fmt: skip
    staff = charts.trend(
        f"{name}: agents needed for {plan.target.service_level:.0%} in {plan.target.answer_within_s:g} s "
        f"({plan.model.value.replace('_', ' ').title()}; band: the top of the forecast interval)",
        "agents",
        [charts.Series("agents needed", tuple(agents)), *([charts.Series("on the floor now", tuple(floor))]
                                                          if floor else [])],
        width=900, height=220, font=14,
    )  # fmt: skip
    return {"contacts": contacts, "agents": staff}


def parse_days(query: Mapping[str, str], workforce: Workforce, today: date) -> tuple[date, int]:
    try:
        first = date.fromisoformat(query["day"]) if query.get("day") else today
        days = int(query.get("days", "1"))
    except ValueError as exc:
        raise ValueError(f"day is a date such as 2026-12-07 and days a whole number ({exc})") from None
    if not 1 <= days <= workforce.forecast.horizon_days:
        raise ValueError(f"days is between 1 and {workforce.forecast.horizon_days}")
    if abs((first - today).days) > 92:
        raise ValueError("day lies within 92 days of today")
    return first, days


def readable(principal: Principal, kept: tuple[str, ...], queue: Queue) -> bool:
    """Whether the token reads the whole queue (its scope does not cut it)."""
    try:
        return principal.narrow(queue.where, kept) == dict(queue.where)
    except OutOfScope:
        return False


def asked_queue(view: Any, request: Any, gate: Gate, workforce: Workforce, kept: tuple[str, ...],
                queue_id: str) -> Queue | Any:  # fmt: skip
    """The queue a request names, or the answer refusing it: no token (401), no such queue (404), a token that does
    not read all of it (403)."""
    try:
        principal = gate.principal(request)
    except Denied as denied:
        return refuse(view, denied)
    try:
        queue = workforce.queue(queue_id)
    except KeyError:
        return view.json({"error": f"no queue {queue_id!r} (GET /api/workforce lists them)"}, status=404)
    if not readable(principal, kept, queue):
        return refuse(view, Denied(403, f"{principal.name} does not read all of queue {queue_id}"))
    return queue


def register(
    app: faust.App, gate: Gate, topology: Topology, feed: HistoryFeed | None, staffing: Staffing | None = None
) -> None:
    workforce, metrics = topology.workforce, topology.metrics
    kept = metrics.definition(workforce.arrivals).dimensions if workforce.queues else ()

    async def lives(request: Any, wanted: list[Queue]) -> dict[str, Any]:
        """Each wanted queue's live JSON, from this worker when it holds the floor, else from the one that does."""
        if staffing is None or not staffing.active or not wanted:
            return {}
        if held(app, staffing.presence.table) or is_local(request):
            at = now_ms()
            ids = {q.id for q in wanted}
            return {o.queue.id: live_json(o, staffing.gaps.get(o.queue.id), workforce, at)
                    for o in staffing.outlooks(at) if o.queue.id in ids}  # fmt: skip
        answers = await ask_holders(app, staffing.presence.table, request, "/api/workforce", query={})
        for body in answers.ok():
            return {q["id"]: q["live"] for q in body.get("queues", []) if q.get("live") is not None}
        return {}

    @app.page("/api/workforce")
    async def queues(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        mine = [q for q in workforce.queues if readable(principal, kept, q)]
        live = await lives(request, mine)
        return view.json({"interval_minutes": workforce.interval_ms // 60_000,
                          "queues": [{**queue_json(workforce, q), "live": live.get(q.id)} for q in mine]})  # fmt: skip

    @app.page("/api/workforce/{queue_id}")
    async def one_queue(view: Any, request: Any, queue_id: str) -> Any:
        queue = asked_queue(view, request, gate, workforce, kept, queue_id)
        if not isinstance(queue, Queue):
            return queue  # the refusal
        if feed is None:
            return view.json({"error": "no metric history on this worker"}, status=404)
        if not feed.ready:
            return view.json({"error": "metric history is still loading; try again"}, status=503)
        try:
            first, days = parse_days(request.query, workforce, datetime.now(UTC).date())
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        plan = queue_plan(metrics, workforce, queue, feed.index, first, days)
        body = plan_json(workforce, plan)
        body["live"] = (await lives(request, [queue])).get(queue.id)
        if request.query.get("chart") == "svg":
            body["charts"] = plan_charts(plan, body["live"])
        return view.json(body)
