"""Remediation actions as ``cx.remediation`` records (schema ``cxstream.RemediationAction``), and items as the API
and the command line show them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from cxstream.domain.base import (
    JsonObject,
    Record,
    as_float,
    as_str,
    as_time,
    obj,
    opt_int,
    opt_str,
    seq,
    str_list,
    text_map,
    to_ms,
)
from cxstream.domain.remediation.fmea import FailureMode
from cxstream.domain.remediation.items import Action, Change, Item, ItemAction


def _opt_float(value: object, what: str) -> float | None:
    return None if value is None else as_float(value, what)


def _float_map(value: object, what: str) -> dict[str, float]:
    if value is None:
        return {}
    return {str(k): as_float(v, what) for k, v in obj(value, what).items()}


def change_json(change: Change) -> JsonObject:
    """A change as its record and the API carry it (plain values only)."""
    return {
        "description": change.description, "departments": list(change.departments),
        "processes": list(change.processes), "regulated": change.regulated, "procedure": change.procedure,
        "procedure_version": change.procedure_version, "target_metrics": list(change.target_metrics),
        "failure_modes": [m.model_dump() for m in change.failure_modes],
    }  # fmt: skip


def change_from_record(record: Mapping[str, object]) -> Change:
    return Change(
        description=as_str(record["description"], "description"),
        departments=str_list(record.get("departments"), "departments"),
        processes=str_list(record.get("processes") or [], "processes"),
        regulated=bool(record.get("regulated")),
        procedure=opt_str(record.get("procedure"), "procedure"),
        procedure_version=opt_str(record.get("procedure_version"), "procedure_version"),
        target_metrics=str_list(record.get("target_metrics"), "target_metrics"),
        failure_modes=tuple(FailureMode.model_validate(m) for m in seq(record.get("failure_modes") or [], "modes")),
    )


def action_record(action: Action) -> Record:
    return {
        "action_id": action.action_id, "item_id": action.item_id, "action": action.action.value,
        "actor": action.actor, "role": action.role, "teams": list(action.teams),
        "at": datetime.fromtimestamp(action.at_ms / 1000, UTC), "comment": action.comment, "title": action.title,
        "source": action.source, "cause_code": action.cause_code, "labels": dict(action.labels),
        "reach": action.reach, "reach_low": action.reach_low, "reach_high": action.reach_high,
        "segments": dict(action.segments), "severity": action.severity, "cost_weeks": action.cost_weeks,
        "risk": action.risk, "change": change_json(action.change) if action.change is not None else None,
        "requests": dict(action.requests), "effect": action.effect, "effect_low": action.effect_low,
        "effect_high": action.effect_high,
        "department": action.department, "scope": dict(action.scope), "metric": action.metric,
    }  # fmt: skip


def action_from_record(record: Mapping[str, object]) -> Action:
    def text(name: str) -> str | None:
        return opt_str(record.get(name), name)

    change = record.get("change")
    return Action(
        action_id=as_str(record["action_id"], "action_id"),
        item_id=as_str(record["item_id"], "item_id"),
        action=ItemAction(as_str(record["action"], "action")),
        actor=as_str(record["actor"], "actor"),
        at_ms=to_ms(as_time(record["at"], "at")),
        role=text("role"),
        teams=str_list(record.get("teams") or [], "teams"),
        comment=text("comment"),
        title=text("title"),
        source=text("source"),
        cause_code=text("cause_code"),
        labels=text_map(record.get("labels"), "labels"),
        reach=_opt_float(record.get("reach"), "reach"),
        reach_low=_opt_float(record.get("reach_low"), "reach_low"),
        reach_high=_opt_float(record.get("reach_high"), "reach_high"),
        segments=_float_map(record.get("segments"), "segments"),
        severity=opt_int(record.get("severity"), "severity"),
        cost_weeks=_opt_float(record.get("cost_weeks"), "cost_weeks"),
        risk=_opt_float(record.get("risk"), "risk"),
        requests=_float_map(record.get("requests"), "requests"),
        effect=_opt_float(record.get("effect"), "effect"),
        effect_low=_opt_float(record.get("effect_low"), "effect_low"),
        effect_high=_opt_float(record.get("effect_high"), "effect_high"),
        change=change_from_record(obj(change, "change")) if change is not None else None,
        department=text("department"),
        scope=text_map(record.get("scope"), "scope"),
        metric=text("metric"),
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def item_json(item: Item) -> JsonObject:
    """An item's own fields (the API adds priority, approvals due and the verdict)."""
    return {
        "item_id": item.item_id, "title": item.title, "state": item.state.value, "source": item.source,
        "created_at": _iso(item.created_ms), "updated_at": _iso(item.updated_ms), "cause_code": item.cause_code,
        "labels": dict(item.labels), "reach": item.reach, "reach_low": item.reach_low, "reach_high": item.reach_high,
        "segments": dict(item.segments), "severity": item.severity, "cost_weeks": item.cost_weeks, "risk": item.risk,
        "evidence": item.evidence, "analysis": item.analysis, "requests": dict(item.requests),
        "effect": item.effect, "effect_low": item.effect_low, "effect_high": item.effect_high,
        "change": change_json(item.change) if item.change is not None else None,
        "approvals": [
            {"department": a.department, "actor": a.actor, "at": _iso(a.at_ms), "approved": a.approved,
             "comment": a.comment} for a in item.approvals
        ],
        "rollouts": [
            {"scope": dict(r.scope), "at": _iso(r.at_ms), "actor": r.actor, "procedure": r.procedure,
             "procedure_version": r.procedure_version} for r in item.rollouts
        ],
        "verdicts": [
            {"outcome": v.outcome, "metric": v.metric, "summary": v.summary, "at": _iso(v.at_ms)} for v in item.verdicts
        ],
        "version": item.version,
    }  # fmt: skip
