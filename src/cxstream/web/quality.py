"""``GET /api/workforce/{queue}/quality?chart=svg``: the cost of quality of a queue's complex contacts over the
last 28 days of tickets: CSAT per handle-time fifth (n, interval), the logistic curve of CSAT against handle time
(an association), and per allowed handle time the agents the busiest interval needs and the extra cost a month,
from this worker's ticket feed and metric history. ``chart=svg`` adds the two trade-off charts."""

from __future__ import annotations

from typing import Any

import faust

from cxstream.agents.history import HistoryFeed
from cxstream.agents.scorecards import TicketFeed
from cxstream.domain.base import now_ms
from cxstream.domain.topology import Topology
from cxstream.domain.workforce.quality import TradeOff, queue_trade_off
from cxstream.domain.workforce.spec import Queue
from cxstream.web import charts
from cxstream.web.auth import Gate
from cxstream.web.workforce import asked_queue

NOTE = ("an association in past tickets (longer tickets may differ in other ways), not the effect of allowing "
        "more time; the cost is what the forecast would need in staff")  # fmt: skip


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def trade_off_json(t: TradeOff) -> dict[str, Any]:
    model = None
    if t.model is not None:
        model = {"intercept": round(t.model.intercept, 5), "slope_per_minute": round(t.model.slope, 5),
                 "slope_se": round(t.model.slope_se, 5), "n": t.model.n}  # fmt: skip
    bins = [
        {"from_minutes": round(b.low_min, 2), "to_minutes": round(b.high_min, 2), "n": b.n, "good": b.good,
         "csat": round(b.share, 4), "low": round(b.low, 4), "high": round(b.high, 4)}
        for b in t.bins
    ]  # fmt: skip
    points = []
    for p in t.points:
        csat = (
            {"value": round(p.csat[0], 4), "low": round(p.csat[1], 4), "high": round(p.csat[2], 4)} if p.csat else None
        )
        points.append({"handle_minutes": p.handle_min, "csat": csat, "peak_agents": p.peak_agents,
                       "peak_delta": p.peak_delta, "agent_hours_week": round(p.agent_hours_week, 1),
                       "monthly_cost": round(p.monthly_cost)})  # fmt: skip
    peak = {"start": t.peak_start.isoformat(), "arrivals": round(t.peak_arrivals or 0, 2)} if t.peak_start else None
    return {
        "queue": t.queue_id,
        "tiers": list(t.tiers),
        "confidence": t.confidence,
        "rated": t.rated,
        "current_minutes": _r(t.current_min, 2),
        "tier_share": _r(t.share),
        "insufficient": t.insufficient,
        "note": NOTE,
        "model": model,
        "bins": bins,
        "peak": peak,
        "hourly_cost": t.hourly_cost,
        "currency": t.currency,
        "points": points,
    }


def trade_off_charts(t: TradeOff, display: str) -> dict[str, str]:
    tiers = ", ".join(t.tiers)
    level = round(t.confidence * 100)
    model = [charts.XY(p.handle_min, 100 * p.csat[0], 100 * p.csat[1], 100 * p.csat[2]) for p in t.points if p.csat]
    observed = [charts.XY((b.low_min + b.high_min) / 2, 100 * b.share, 100 * b.low, 100 * b.high, b.n) for b in t.bins]
    marker = (charts.Level(f"today {t.current_min:.1f} min", t.current_min, "target")
              if t.current_min is not None else None)  # fmt: skip
    csat = charts.curve(
        f"{display}, {tiers} contacts: CSAT by handle time ({level} % interval; dots: observed fifths with n; an "
        "association, not an effect)", "min", "%",
        [("fitted", model), ("observed", observed)], marker=marker,
    )  # fmt: skip
    cost = charts.curve(
        f"{display}: extra staffing cost a month ({t.currency}, at {t.hourly_cost:g} an hour) by the handle time "
        f"allowed on {tiers} contacts", "min", "",
        [(f"{t.currency} a month", [charts.XY(p.handle_min, p.monthly_cost) for p in t.points])], marker=marker,
    )  # fmt: skip
    return {"csat": csat, "cost": cost}


def register(app: faust.App, gate: Gate, topology: Topology, feed: HistoryFeed | None,
             tickets: TicketFeed | None) -> None:  # fmt: skip
    workforce, metrics = topology.workforce, topology.metrics
    kept = metrics.definition(workforce.arrivals).dimensions if workforce.queues else ()

    @app.page("/api/workforce/{queue_id}/quality")
    async def quality(view: Any, request: Any, queue_id: str) -> Any:
        queue = asked_queue(view, request, gate, workforce, kept, queue_id)
        if not isinstance(queue, Queue):
            return queue  # the refusal
        if feed is None or tickets is None:
            return view.json({"error": "no metric history or ticket feed on this worker"}, status=404)
        if not feed.ready or not tickets.ready:
            return view.json({"error": "metric history or tickets are still loading; try again"}, status=503)
        curve = queue_trade_off(list(tickets.tickets.values()), metrics, workforce, queue, feed.index, now_ms())
        body = trade_off_json(curve)
        if request.query.get("chart") == "svg" and curve.points:
            body["charts"] = trade_off_charts(curve, queue.display)
        return view.json(body)
