"""What the API, the page and the command line show of the backlog: each item with its priority and the components
behind it, the approvals still missing, its FMEA rated, and its audit trail."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from cxstream.domain.base import Json, JsonObject
from cxstream.domain.remediation.allocation import Plan
from cxstream.domain.remediation.backlog import Backlog, ProcedureStatus, TrailEntry, scope_text
from cxstream.domain.remediation.evidence import Rate
from cxstream.domain.remediation.fmea import unmitigated
from cxstream.domain.remediation.items import Item, item_priority, missing_approvals, required_departments
from cxstream.domain.remediation.records import item_json


def priority_json(item: Item, backlog: Backlog) -> JsonObject:
    found = item_priority(item, backlog.spec)
    return {
        "score": round(found.score, 4), "score_low": round(found.score_low, 4),
        "score_high": round(found.score_high, 4),
        "components": [
            {"name": c.name, "value": round(c.value, 4), "weight": c.weight, "log_share": round(c.log_share, 4)}
            for c in found.components
        ],
    }  # fmt: skip


def fmea_json(item: Item, backlog: Backlog, observed: Mapping[str, Rate] | None = None, min_n: int = 30) -> list[Json]:
    """The change's failure modes rated; where a mode's rate is observed (``observed`` by mode id) on at least
    ``min_n`` units, the occurrence that rate stands for and the action priority it would give."""
    if item.change is None:
        return []
    spec = backlog.spec.fmea
    open_modes = {m.id for m in unmitigated(spec, list(item.change.failure_modes))}
    rows: list[Json] = []
    for m in item.change.failure_modes:
        row: JsonObject = {**m.model_dump(), "rpn": m.rpn, "blocks_approval": m.id in open_modes,
                           "action_priority": spec.priority(m.severity, m.occurrence, m.detection).value}  # fmt: skip
        seen = (observed or {}).get(m.id)
        if seen is not None:
            share = seen.share
            occurrence = spec.occurrence(share) if share is not None and seen.n >= min_n else None
            row["observed_rate"] = {"hits": seen.hits, "n": seen.n, "share": share, "occurrence": occurrence,
                                    "action_priority": None if occurrence is None else
                                    spec.priority(m.severity, occurrence, m.detection).value}  # fmt: skip
        rows.append(row)
    return rows


def trail_json(trail: Sequence[TrailEntry]) -> list[Json]:
    from datetime import UTC, datetime

    return [
        {"action_id": e.action.action_id, "action": e.action.action.value, "actor": e.action.actor,
         "at": datetime.fromtimestamp(e.action.at_ms / 1000, UTC).isoformat(), "comment": e.action.comment,
         "department": e.action.department, "scope": dict(e.action.scope), "refused": e.refused}
        for e in trail
    ]  # fmt: skip


def with_measured_reach(item: Item, measured: tuple[float, float, float] | None) -> Item:
    """The item with its measured reach (per week, low, high) where none was given."""
    if measured is None or item.reach > 0:
        return item
    return replace(item, reach=measured[0], reach_low=measured[1], reach_high=measured[2])


def item_view(
    item: Item,
    backlog: Backlog,
    *,
    with_trail: bool = False,
    measured: tuple[float, float, float] | None = None,
    observed: Mapping[str, Rate] | None = None,
) -> JsonObject:
    """The item as shown; ``measured``: its reach measured from the streams, used where none was given."""
    reach_source = "given" if item.reach > 0 else ("measured" if measured is not None else "unknown")
    item = with_measured_reach(item, measured)
    spec = backlog.spec
    code = spec.root_causes.find(item.cause_code) if item.cause_code else None
    view: JsonObject = {
        **item_json(item),
        "cause": {"code": code.code, "class": spec.root_causes.classes[code.cause_class], "display": code.display}
        if code is not None else None,
        "priority": priority_json(item, backlog),
        "required_approvals": list(required_departments(item.change, spec)),
        "missing_approvals": list(missing_approvals(item, spec)) if item.change is not None else [],
        "fmea": fmea_json(item, backlog, observed),
        "reach_source": reach_source,
    }  # fmt: skip
    if with_trail:
        view["trail"] = trail_json(backlog.trails.get(item.item_id, []))
    return view


def procedures_json(statuses: Sequence[ProcedureStatus]) -> list[Json]:
    return [
        {
            "procedure": s.procedure, "newest": s.newest,
            "running": [{"scope": dict(a.scope), "where": scope_text(a.scope), "version": a.version,
                         "item_id": a.item_id} for a in s.running],
            "behind": [{"where": scope_text(a.scope), "version": a.version} for a in s.behind],
            "not_rolled_out": list(s.not_rolled_out),
        }
        for s in statuses
    ]  # fmt: skip


def plan_json(found: Plan, titles: Mapping[str, str]) -> JsonObject:
    chosen = set(found.allocation.chosen)
    stays = {s.item_id: s for s in found.sensitivity}
    return {
        "capacity": dict(found.capacity), "committed": dict(found.committed),
        "available": dict(found.allocation.available), "used": dict(found.allocation.used),
        "value": round(found.allocation.value, 2), "value_unit": "customer-points a week, risk-adjusted",
        "projects": [
            {"item_id": p.item_id, "title": p.title, "value": round(p.value, 2), "value_low": round(p.value_low, 2),
             "value_high": round(p.value_high, 2), "requests": dict(p.requests), "chosen": p.item_id in chosen,
             "stays_at_low_end": stays[p.item_id].stays if p.item_id in stays else None,
             "replaced_by": list(stays[p.item_id].instead) if p.item_id in stays else []}
            for p in found.projects
        ],
        "missing": [{"item_id": i, "title": titles.get(i, i), "lacks": lacks} for i, lacks in found.missing],
        "at_low_end": {"chosen": list(found.at_low.chosen), "value": round(found.at_low.value, 2)},
    }  # fmt: skip
