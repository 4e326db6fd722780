"""What the API and the command line show of experiments: the record, its arms, and the analysis."""

from __future__ import annotations

from datetime import UTC, datetime

from cxstream.domain.base import Json, JsonObject
from cxstream.domain.impact.experiments import Experiment, ExperimentResult
from cxstream.domain.impact.sequential import Interval


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
