"""Tolerance curves, proposals and the thresholds in force as JSON for the API and the command line."""

from __future__ import annotations

from datetime import UTC, datetime

from cxstream.domain.alerting.thresholds import Levels, ThresholdRule
from cxstream.domain.base import Json, JsonObject
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.domain.origin import describe
from cxstream.domain.tolerance.curves import ToleranceCurve
from cxstream.domain.tolerance.proposals import RuleProposal, ScopeProposal


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _pts(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def curve_json(curve: ToleranceCurve) -> JsonObject:
    t = curve.tolerance
    bands: list[Json] = [
        {"band": b.label, "middle": b.middle, "n": b.n, "share": _pts(b.share), "low": _pts(b.low),
         "high": _pts(b.high), "fitted": _pts(b.fitted), "fitted_low": _pts(b.fitted_low),
         "fitted_high": _pts(b.fitted_high)}
        for b in t.bands
    ]  # fmt: skip
    return {
        "pair": curve.pair, "scope": dict(curve.scope), "operational": curve.operational,
        "operational_label": curve.operational_label, "unit": curve.unit, "satisfaction": curve.satisfaction,
        "satisfaction_label": curve.satisfaction_label, "from": _day(curve.start_ms), "to": _day(curve.end_ms - 1),
        "n": t.n, "plateau": _pts(t.plateau), "drop_points": t.drop, "claimed": t.claimed,
        "point": _r(t.point, 1), "point_low": _r(t.point_low, 1), "point_high": _r(t.point_high, 1),
        "p_value": _r(t.p_value, 4), "slope_per_unit": _r(t.slope, 3), "slope_low": _r(t.slope_low, 3),
        "slope_high": _r(t.slope_high, 3), "confidence": t.confidence, "resamples": t.resamples,
        "reason": t.reason or None, "summary": curve.summary, "bands": bands,
    }  # fmt: skip


def _levels(levels: Levels) -> JsonObject:
    return {"warning": levels.warning, "critical": levels.critical, "clear": levels.clear}


def scope_proposal_json(p: ScopeProposal) -> JsonObject:
    return {
        "scope": dict(p.scope), "days": p.days, "n": p.n, "median": _r(p.median), "warning": p.warning,
        "critical": p.critical, "clear": p.clear, "current": _levels(p.current), "basis": p.basis,
        "tolerance": p.tolerance, "sla": p.sla, "weekday_medians": [_r(v) for v in p.weekday_medians],
        "months": [{"month": m.month, "days": m.days, "current_warning": m.current_warning,
                    "current_critical": m.current_critical, "warning": m.warning, "critical": m.critical}
                   for m in p.months],
        "note": p.note or None,
    }  # fmt: skip


def proposal_json(p: RuleProposal) -> JsonObject:
    return {
        "rule": p.rule, "metric": p.metric, "direction": p.direction.value, "unit": p.unit,
        "from": p.first.isoformat(), "to": p.last.isoformat(), "budget": p.budget,
        "overall": scope_proposal_json(p.overall), "scopes": [scope_proposal_json(s) for s in p.scopes],
        "origin": p.origin.model_dump(mode="json", exclude_none=True),
    }  # fmt: skip


def in_force_json(rules: tuple[ThresholdRule, ...], metrics: MetricsSpec) -> list[Json]:
    """Every threshold rule's levels with where they came from, and the SLA of its metric with its own."""
    out: list[Json] = []
    for rule in rules:
        definition = metrics.definition(rule.metric)
        out.append({
            "rule": rule.id, "metric": rule.metric, "label": definition.title, "unit": definition.unit_name,
            "direction": rule.direction.value, "window": rule.window, **_levels(rule),
            "overrides": [{"matchers": list(o.matchers), **_levels(rule.levels_merged(o))} for o in rule.overrides],
            "origin": rule.origin.model_dump(mode="json", exclude_none=True) if rule.origin else None,
            "origin_text": describe(rule.origin), "sla": definition.sla,
            "sla_origin_text": describe(definition.sla_origin) if definition.sla is not None else None,
        })  # fmt: skip
    return out
