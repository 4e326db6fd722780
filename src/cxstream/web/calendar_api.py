"""``GET /api/calendar``: the workforce calendar's entries (planned trainings and system changes) that have not
ended, each assessed against its queues' forecast: the service level it leaves in the worst interval it
overlaps against the planned one, the first start that keeps the target when it does not, and the peak seasons
and change freezes it overlaps. Only entries whose every queue the token reads in full are listed."""

from __future__ import annotations

from datetime import date
from typing import Any

import faust

from cxstream.agents.calendar_feed import CalendarFeed
from cxstream.agents.history import HistoryFeed
from cxstream.domain.base import from_ms, now_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.domain.topology import Topology
from cxstream.domain.workforce.calendar import Assessment, CalendarEntry, assess, days_of
from cxstream.domain.workforce.queues import QueuePlan, queue_plan
from cxstream.domain.workforce.spec import Workforce
from cxstream.web.auth import Denied, Gate, refuse
from cxstream.web.workforce import readable


def plans_for(entry: CalendarEntry, metrics: MetricsSpec, workforce: Workforce, index: HistoryIndex,
              cache: dict[tuple[str, date, int], QueuePlan] | None = None) -> dict[str, QueuePlan]:  # fmt: skip
    """Each of the entry's queues' plan over its days and the search after it (up to the forecast's horizon)."""
    first, days = days_of(entry, workforce.calendar.search_days)
    days = min(days, workforce.forecast.horizon_days)
    cache = {} if cache is None else cache
    out = {}
    for queue_id in entry.queues:
        key = (queue_id, first, days)
        if key not in cache:
            cache[key] = queue_plan(metrics, workforce, workforce.queue(queue_id), index, first, days)
        out[queue_id] = cache[key]
    return out


def assessment_json(a: Assessment) -> dict[str, Any]:
    e = a.entry
    return {
        "entry_id": e.entry_id, "kind": e.kind, "title": e.title, "queues": list(e.queues), "agents": e.agents,
        "starts_at": from_ms(e.starts_ms).isoformat(), "ends_at": from_ms(e.ends_ms).isoformat(),
        "created_by": e.created_by, "comment": e.comment,
        "verdict": "refused" if a.refused else "unknown" if a.unknown else "below_target" if a.below_target else "ok",
        "summary": a.summary(), "target": a.target,
        "better_start": a.better_start.isoformat() if a.better_start else None,
        "impacts": [
            {"queue": i.queue_id, "interval": i.start.isoformat() if i.start else None, "needed": i.needed,
             "left": i.left, "planned_service_level": None if i.planned_level is None else round(i.planned_level, 4),
             "service_level": None if i.level is None else round(i.level, 4),
             "arrivals": None if i.arrivals is None else round(i.arrivals, 2), "weeks": i.weeks}
            for i in a.impacts
        ],
        "rules": [{"rule": h.rule, "kind": h.kind, "action": h.action} for h in a.hits],
    }  # fmt: skip


def register(app: faust.App, gate: Gate, topology: Topology, history: HistoryFeed | None,
             calendar: CalendarFeed | None) -> None:  # fmt: skip
    workforce, metrics = topology.workforce, topology.metrics
    kept = metrics.definition(workforce.arrivals).dimensions if workforce.queues else ()

    @app.page("/api/calendar")
    async def entries(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        if history is None or calendar is None:
            return view.json({"error": "no metric history or calendar feed on this worker"}, status=404)
        if not history.ready or not calendar.ready:
            return view.json({"error": "the history or the calendar is still loading; try again"}, status=503)
        at = now_ms()
        queues = {q.id: q for q in workforce.queues}
        shown = sorted((e for e in calendar.entries.values() if not e.cancelled and e.ends_ms > at
                        and all(q in queues and readable(principal, kept, queues[q]) for q in e.queues)),
                       key=lambda e: (e.starts_ms, e.entry_id))  # fmt: skip
        cache: dict[tuple[str, date, int], QueuePlan] = {}
        rows = [assessment_json(assess(e, plans_for(e, metrics, workforce, history.index, cache), workforce.calendar))
                for e in shown]  # fmt: skip
        return view.json({"entries": rows})
