"""Experiments over HTTP (every worker reads ``cx.experiments`` whole):

* ``GET /api/experiments`` - the experiments with their state and, for each, the decision so far;
* ``GET /api/experiments/{id}?chart=svg`` - one experiment: its arms' answers with n, each arm against the
  control (the anytime-valid confidence sequence and the fixed-horizon interval), the sample-ratio check and the
  decision (``chart=svg``: the differences as a forest chart);
* ``POST /api/experiments`` - start one (``title``, ``hypothesis``, ``metrics``, ``unit``, ``arms`` as names
  or ``{name, weight}``, optional ``experiment_id``, ``start``, ``planned_per_arm`` or ``baseline`` and
  ``target`` to plan it, ``method`` sequential or fixed);
* ``POST /api/experiments/{id}/stop`` - stop it (``decision``: why, in words).

Viewers read; analysts, supervisors and admins act; every write is audited.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import faust

from cxstream.agents.experiments import ExperimentFeed
from cxstream.agents.history import HistoryFeed
from cxstream.agents.remediation import EvidenceFeed
from cxstream.domain.access.principal import Role
from cxstream.domain.base import digest, now_ms, to_ms
from cxstream.domain.impact.experiments import (
    Arm,
    Experiment,
    ExperimentResult,
    Method,
    Refused,
    analyse,
    check_new,
    stopped,
)
from cxstream.domain.impact.planning import per_arm
from cxstream.domain.impact.views import experiment_json
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.web.auth import Denied, Gate, audit, refuse
from cxstream.web.charts import Estimate, Level, forest

ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,60}$")


def _arms(value: object) -> tuple[Arm, ...]:
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError("arms: a list of two or more names or {name, weight} objects, the control first")
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(Arm(item, 1.0))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            weight = item.get("weight", 1.0)
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise ValueError("an arm's weight is a number")
            out.append(Arm(item["name"], float(weight)))
        else:
            raise ValueError("arms: names or {name, weight} objects")
    return tuple(out)


def parse_new(body: dict[str, Any], actor: str, at_ms: int) -> Experiment:
    metrics = body.get("metrics")
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ValueError("metrics: a list of metric ids")
    title = str(body.get("title") or "").strip()
    experiment_id = str(body.get("experiment_id") or f"exp-{digest(f'{title}|{actor}|{at_ms}', 12)}")
    if not ID.match(experiment_id):
        raise ValueError("experiment_id: 3-61 lower-case letters, digits and dashes")
    start = to_ms(datetime.fromisoformat(str(body["start"]))) if body.get("start") else at_ms
    planned = body.get("planned_per_arm")
    if planned is None and body.get("baseline") is not None and body.get("target") is not None:
        planned = per_arm(float(body["baseline"]), float(body["target"]))
    if planned is not None and (isinstance(planned, bool) or not isinstance(planned, int) or planned < 1):
        raise ValueError("planned_per_arm: a whole number of answers per arm")
    return Experiment(
        experiment_id=experiment_id, title=title, hypothesis=str(body.get("hypothesis") or "").strip(),
        metrics=tuple(metrics), unit=str(body.get("unit") or ""), arms=_arms(body.get("arms")),
        salt=experiment_id, start_ms=start, created_by=actor, planned_per_arm=planned,
        method=Method(str(body.get("method") or "sequential")),
    )  # fmt: skip


def forest_of(result: ExperimentResult) -> str:
    """Each arm minus the control, in points, with its interval (the method the experiment reads) and n."""
    rows = []
    several = len(result.metrics) > 1
    for m in result.metrics:
        control = m.arms[0]
        for c in m.comparisons:
            arm = next(a for a in m.arms if a.arm == c.arm)
            i = c.interval
            rows.append(Estimate(f"{m.metric}: {c.arm}" if several else c.arm, 100 * i.estimate, 100 * i.low,
                                 100 * i.high, arm.n + control.n,
                                 flagged=i.excludes_zero and i.estimate < 0))  # fmt: skip
    values = [v for r in rows for v in (r.low, r.high) if v is not None]
    span = max([5.0, *(abs(v) for v in values)]) if values else 10.0
    title = result.experiment.title
    metrics = ", ".join(m.metric for m in result.metrics)
    heading = f"{title}: each arm minus the control, {metrics} (points)" if rows else f"{title}: no answers yet"
    return forest(heading, rows, Level("no difference", 0.0, "target"), " pts", lo=-span, hi=span)


def register(app: faust.App, gate: Gate, feed: ExperimentFeed, evidence: EvidenceFeed | None,
             history: HistoryFeed | None, metrics: MetricsSpec, topic: Any, alpha: float) -> None:  # fmt: skip
    def result(experiment: Experiment) -> ExperimentResult | None:
        if evidence is None:
            return None
        index = history.index if history is not None and history.ready else None
        return analyse(experiment, metrics, index, evidence.book, alpha, now_ms())

    @app.page("/api/experiments")
    class Experiments(faust.web.View):
        async def get(self, request: Any) -> Any:
            try:
                gate.principal(request)
            except Denied as denied:
                return refuse(self, denied)
            at = now_ms()
            ordered = sorted(feed.book.experiments.values(), key=lambda e: -e.start_ms)
            rows = []
            for experiment in ordered:
                body = experiment_json(experiment, at, result(experiment))
                rows.append(body)
            return self.json({"ready": feed.ready, "experiments": rows})

        async def post(self, request: Any) -> Any:
            try:
                principal = gate.principal(request)
            except Denied as denied:
                return refuse(self, denied)
            if principal.role is Role.VIEWER:
                return self.json({"error": f"{principal.name} (viewer) may not start experiments"}, status=403)
            try:
                body = json.loads(await request.read() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                experiment = parse_new(body, principal.name, now_ms())
                check_new(experiment, metrics, feed.book.experiments.values())
            except Refused as refused:
                return self.json({"error": str(refused).split(": ", 1)[1], "rule": refused.rule_id}, status=409)
            except (ValueError, TypeError, KeyError) as exc:
                return self.json({"error": str(exc)}, status=400)
            await topic.send(key=experiment.experiment_id.encode(), value=experiment.record())
            audit(principal, "experiment.start", experiment_id=experiment.experiment_id)
            return self.json(experiment_json(experiment, now_ms()), status=202)

    @app.page("/api/experiments/{experiment_id}")
    async def one(view: Any, request: Any, experiment_id: str) -> Any:
        try:
            gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        found = feed.book.experiments.get(experiment_id)
        if found is None:
            return view.json({"error": f"no experiment {experiment_id}"}, status=404)
        found_result = result(found)
        body = experiment_json(found, now_ms(), found_result)
        if request.query.get("chart") == "svg" and found_result is not None:
            body["chart"] = forest_of(found_result)
        return view.json(body)

    @app.page("/api/experiments/{experiment_id}/stop")
    class Stop(faust.web.View):
        async def post(self, request: Any, experiment_id: str) -> Any:
            try:
                principal = gate.principal(request)
            except Denied as denied:
                return refuse(self, denied)
            if principal.role is Role.VIEWER:
                return self.json({"error": f"{principal.name} (viewer) may not stop experiments"}, status=403)
            found = feed.book.experiments.get(experiment_id)
            if found is None:
                return self.json({"error": f"no experiment {experiment_id}"}, status=404)
            if found.end_ms is not None:
                return self.json({"error": f"{experiment_id} stopped already", "rule": "experiment.stopped"},
                                 status=409)  # fmt: skip
            try:
                body = json.loads(await request.read() or b"{}")
                note = str(body.get("decision") or "").strip() if isinstance(body, dict) else ""
            except ValueError:
                return self.json({"error": "the body must be a JSON object"}, status=400)
            if not note:
                return self.json({"error": "decision: say why it stops", "rule": "experiment.decision"}, status=400)
            done = stopped(found, principal.name, now_ms(), note)
            await topic.send(key=experiment_id.encode(), value=done.record())
            audit(principal, "experiment.stop", experiment_id=experiment_id)
            return self.json(experiment_json(done, now_ms()), status=202)
