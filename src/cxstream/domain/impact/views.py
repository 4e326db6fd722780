"""What the API and the command line show of experiments (the record, its arms, the analysis) and of a change's
impact (each estimate, the parallel-trend checks, the daily series)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from cxstream.domain.base import Json, JsonObject
from cxstream.domain.impact.audits import Audit, AuditResult
from cxstream.domain.impact.changes import ChangeImpact
from cxstream.domain.impact.did import Estimate
from cxstream.domain.impact.experiments import Experiment, ExperimentResult
from cxstream.domain.impact.plateaus import Plateau
from cxstream.domain.impact.sequential import Interval
from cxstream.domain.impact.targets import State as TargetState
from cxstream.domain.impact.targets import Target, TargetBook


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _points(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def state_of(experiment: Experiment, now_ms: int) -> str:
    if experiment.end_ms is not None and experiment.end_ms <= now_ms:
        return "STOPPED"
    return "RUNNING" if experiment.start_ms <= now_ms else "SCHEDULED"


def _interval(found: Interval) -> JsonObject:
    return {"estimate": _points(found.estimate), "low": _points(found.low), "high": _points(found.high),
            "method": found.method, "excludes_zero": found.excludes_zero}  # fmt: skip


def experiment_json(experiment: Experiment, now_ms: int, result: ExperimentResult | None = None) -> JsonObject:
    body: JsonObject = {
        "experiment_id": experiment.experiment_id, "title": experiment.title, "hypothesis": experiment.hypothesis,
        "metrics": list(experiment.metrics), "unit": experiment.unit,
        "arms": [{"name": a.name, "weight": a.weight, "control": i == 0} for i, a in enumerate(experiment.arms)],
        "start": _iso(experiment.start_ms), "end": _iso(experiment.end_ms),
        "planned_per_arm": experiment.planned_per_arm, "method": experiment.method.value,
        "state": state_of(experiment, now_ms), "created_by": experiment.created_by,
        "stopped_by": experiment.stopped_by, "decision_note": experiment.decision,
        "assignment": {"salt": experiment.salt, "rule": "sha256(salt|unit id), first 15 hex digits / 16^15, "
                       "against the arms' cumulative allocation"},
    }  # fmt: skip
    if result is None:
        return body
    metrics: list[Json] = []
    for m in result.metrics:
        srm: Json = None
        if m.srm is not None:
            srm = {"chi2": round(m.srm.chi2, 4), "p": m.srm.p, "alarm": m.srm.alarm, "observed": list(m.srm.observed),
                   "expected": [round(e, 1) for e in m.srm.expected], "summary": m.srm.summary}  # fmt: skip
        metrics.append({
            "metric": m.metric, "label": m.label,
            "arms": [{"arm": a.arm, "value": _points(a.value), "n": a.n} for a in m.arms],
            "comparisons": [{"arm": c.arm, **_interval(c.interval), "fixed": _interval(c.fixed)}
                            for c in m.comparisons],
            "srm": srm,
        })  # fmt: skip
    body["result"] = {"decision": result.decision, "summary": result.summary, "waiting": result.waiting,
                      "metrics": metrics}  # fmt: skip
    return body


def _estimate(found: Estimate | None) -> JsonObject | None:
    if found is None:
        return None
    return {"method": found.method, "effect": round(found.effect, 3), "low": round(found.low, 3),
            "high": round(found.high, 3), "p": found.p, "days_before": found.days_before,
            "days_after": found.days_after, "summary": found.summary}  # fmt: skip


def impact_json(found: ChangeImpact) -> JsonObject:
    """The change's effect in points: the adjusted headline, each method beside it, the parallel-trend checks,
    the controls, and the daily series (treated, controls' mean, the counterfactual with its band)."""
    forecast = found.forecast
    trends = found.trends
    return {
        "metric": found.metric, "label": found.label, "treated": dict(found.treated),
        "rollout": _iso(found.rollout_ms), "controls": [dict(c) for c in found.controls],
        "controls_matched": found.matched, "unit": "points",
        "adjusted": _estimate(found.adjusted), "unadjusted": _estimate(found.naive),
        "did": _estimate(found.did), "counterfactual": _estimate(forecast.estimate if forecast else None),
        "counterfactual_r2": round(forecast.r2, 3) if forecast else None,
        "parallel_trends": None if trends is None else {
            "slope_per_day": round(trends.slope, 4), "slope_p": trends.slope_p, "holds": trends.holds,
            "placebo": _estimate(trends.placebo), "summary": trends.summary},
        "summary": found.summary,
        "days": [{"day": _iso(d), "treated": round(v, 2), "controls": _round(found.control_days.get(d))}
                 for d, v in sorted(found.treated_days.items())],
        "forecast": [] if forecast is None else [
            {"day": _iso(d), "actual": round(a, 2), "predicted": round(p, 2), "low": round(lo, 2),
             "high": round(hi, 2)}
            for d, a, p, lo, hi in zip(forecast.days, forecast.actual, forecast.predicted, forecast.low,
                                       forecast.high, strict=True)],
    }  # fmt: skip


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def audit_result_json(result: AuditResult) -> JsonObject:
    return {
        "scope": dict(result.scope), "period_start": _iso(result.period_start_ms),
        "period_end": _iso(result.period_end_ms), "value": _points(result.value), "n": result.n,
        "low": _points(result.low), "high": _points(result.high), "reference": _points(result.reference),
        "reference_n": result.reference_n, "p": result.p, "verdict": result.verdict, "summary": result.summary,
    }  # fmt: skip


def audit_json(audit: Audit, results: list[AuditResult]) -> JsonObject:
    return {
        "id": audit.id, "standard": audit.standard, "owner": audit.owner, "metric": audit.metric,
        "scopes": [dict(s) for s in audit.scopes], "starts": audit.starts.isoformat(), "cadence": audit.cadence,
        "duration": audit.duration, "level": _points(audit.level), "drift_points": audit.drift_points,
        "alpha": audit.alpha, "drifts": sum(r.verdict == "drift" for r in results),
        "results": [audit_result_json(r) for r in results],
    }  # fmt: skip


def plateau_json(found: Plateau) -> JsonObject:
    return {
        "metric": found.metric, "label": found.label, "scope": dict(found.scope), "verdict": found.verdict,
        "slope_per_week": _round(found.slope), "low": _round(found.low), "high": _round(found.high),
        "band": found.band, "penalty": _round(found.penalty), "summary": found.summary,
        "weeks": [{"start": _iso(w.start_ms), "value": round(w.value, 2), "n": w.n} for w in found.weeks],
        "level_shifts": [_iso(b) for b in found.breakpoints],
        "changes": [{"item_id": c.item_id, "title": c.title, "rolled_out": _iso(c.at_ms), "cost_weeks": c.cost_weeks,
                     "state": c.state, "expected_effect": c.effect} for c in found.changes],
    }  # fmt: skip


def target_json(target: Target) -> JsonObject:
    return {
        "target_id": target.target_id, "version": target.version, "metric": target.metric,
        "scope": dict(target.scope), "value": _points(target.value), "low": _points(target.low),
        "high": _points(target.high), "rationale": target.rationale, "effective": _iso(target.effective_ms),
        "actor": target.actor, "at": _iso(target.at_ms), "state": target.state.value,
        "capability": target.capability, "evidence": target.evidence,
    }  # fmt: skip


def targets_json(book: TargetBook, now_ms: int, keep: Callable[[Target], bool] | None = None) -> list[Json]:
    """Per target (those ``keep`` keeps): the version in force, any open proposal, and every version."""
    out: list[Json] = []
    for tid in book.ids():
        versions = book.versions(tid)
        if keep is not None and not keep(versions[-1]):
            continue
        current = book.current(tid, now_ms)
        out.append({
            "target_id": tid, "metric": versions[-1].metric, "scope": dict(versions[-1].scope),
            "current": target_json(current) if current else None,
            "proposals": [target_json(v) for v in versions if v.state is TargetState.PROPOSED],
            "versions": [target_json(v) for v in versions],
        })  # fmt: skip
    return out


def impact_summary_json(found: ChangeImpact) -> JsonObject:
    """A change's effect in one scope without its daily series: for a remediation item's detail."""
    return {"metric": found.metric, "scope": dict(found.treated), "rollout": _iso(found.rollout_ms),
            "adjusted": _estimate(found.adjusted), "unadjusted": _estimate(found.naive),
            "controls": [dict(c) for c in found.controls],
            "parallel_trends": found.trends.summary if found.trends else None, "summary": found.summary}  # fmt: skip
