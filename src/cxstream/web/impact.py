"""The impact of a change over HTTP, from this worker's copy of the metric history:

* ``GET /api/audits`` - each declared audit with every closed period of every scope: the audited share with n and
  interval against the reference, the p of the fall and the verdict (reference, holds, drift, insufficient);
* ``GET /review?scope=region:emea&period=2026-11`` - the CX review pack of a scope and period, one self-contained
  HTML page (metrics with n and intervals against the period before and the target, trends and plateaus, the
  changes and their verdicts, the experiments, the audits);
* ``GET /api/targets`` - each CX target: the version in force, open proposals (after capability changes, with what
  comparable scopes reach), every version with its rationale, effective date and author;
* ``GET /api/plateaus?metric=&scope=region:emea`` - the metric's weekly trend in the scope with its interval, the
  level shifts (PELT), the changes rolled out there with their cost, and the verdict: plateau, flat or moving;
* ``GET /api/impact?metric=&scope=region:emea&rollout=2026-11-02[&control=region:amer ...][&before=56]
  [&after=28][&chart=svg]`` - the adjusted effect (a counterfactual from control scopes and the weekday, or the
  difference-in-differences) with its interval and method, the unadjusted pre/post beside it, the parallel-trend
  checks on the pre-period, the controls (declared, or matched on the pre-period), and the daily series
  (``chart=svg``: the treated scope against its counterfactual band).

A regional token reads the scopes of its region only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import faust

from cxstream.agents.history import HistoryFeed
from cxstream.agents.targets import TargetFeed
from cxstream.domain.base import now_ms
from cxstream.domain.impact.audits import Audits, run_audit
from cxstream.domain.impact.changes import ChangeImpact, change_impact, scope_text
from cxstream.domain.impact.experiments import Experiment
from cxstream.domain.impact.plateaus import PlateauSpec, changes_from_backlog, plateau
from cxstream.domain.impact.review import build_review, parse_period
from cxstream.domain.impact.views import audit_json, impact_json, plateau_json, targets_json
from cxstream.domain.locations.gaps import day_to_review
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.remediation.items import Item
from cxstream.web.auth import Denied, Gate, refuse
from cxstream.web.charts import Point, Series, trend
from cxstream.web.review_html import render
from cxstream.web.security import page_policy


def parse_scope(text: str) -> dict[str, str]:
    name, sep, value = text.partition(":") if ":" in text else text.partition("=")
    if not sep or not name or not value:
        raise ValueError(f"scope {text!r}: dimension:value, e.g. region:emea")
    return {name.strip(): value.strip()}


def chart_of(found: ChangeImpact) -> str:
    """The treated scope per day against the controls' mean and the forecast band without the change."""
    treated = Series(next(iter(found.treated.values())),
                     tuple(Point(d, v) for d, v in sorted(found.treated_days.items())))  # fmt: skip
    controls = Series("controls", tuple(Point(d, v) for d, v in sorted(found.control_days.items())))
    forecast = found.forecast
    band = Series("forecast", tuple(Point(d, p, lo, hi) for d, p, lo, hi in zip(
        forecast.days, forecast.predicted, forecast.low, forecast.high, strict=True)) if forecast else ())  # fmt: skip
    head = found.adjusted
    effect = f"{head.effect:+.1f} points ({head.low:+.1f} to {head.high:+.1f})" if head else "no estimate"
    rolled = datetime.fromtimestamp(found.rollout_ms / 1000, UTC).date()
    return trend(f"{found.label} in {scope_text(found.treated)} per day against the controls' mean and the "
                 f"forecast without the change (rolled out {rolled}): {effect}", "%",
                 [treated, controls, band], width=900, height=320, font=14)  # fmt: skip


def register(app: faust.App, gate: Gate, metrics: MetricsSpec, history: HistoryFeed | None,
             regions: dict[str, str], audits: Audits, names: dict[str, str], plateaus: PlateauSpec,
             backlog: Callable[[], Iterable[Item]], targets: TargetFeed,
             experiments: Callable[[], Iterable[Experiment]] = tuple) -> None:  # fmt: skip
    def region_of(scope: Mapping[str, Any]) -> str | None:
        """The region a scope lies in: its own, or its site's."""
        return scope.get("region") or regions.get(scope.get("site") or "")

    def unavailable(view: Any) -> Any:
        """The answer while this worker has no metric history to read."""
        if history is None:
            return view.json({"error": "no metric history on this worker"}, status=404)
        return view.json({"error": "the metric history is still being read"}, status=503)

    @app.page("/review")
    async def review(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        if history is None or not history.ready:
            return unavailable(view)
        try:
            scope = parse_scope(str(request.query.get("scope"))) if request.query.get("scope") else {}
            start, end = parse_period(str(request.query.get("period") or ""))
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        try:
            gate.scoped(principal, region_of(scope), scope.get("team"))
        except Denied as denied:
            return refuse(view, denied)
        pack = build_review(scope, start, end, metrics, history.index, items=backlog(), experiments=experiments(),
                            audits=audits, targets=targets.book, plateaus=plateaus, regions=regions,
                            now_ms=now_ms())  # fmt: skip
        html = render(pack, names).encode()
        response = view.bytes(html, content_type="text/html")
        response.headers["Content-Security-Policy"] = page_policy(html)
        return response

    @app.page("/api/targets")
    async def target_list(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        rows = targets_json(targets.book, now_ms(), lambda t: principal.in_scope(region_of(t.scope), None))
        return view.json({"ready": targets.ready, "targets": rows})

    @app.page("/api/plateaus")
    async def plateau_view(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        if history is None or not history.ready:
            return unavailable(view)
        try:
            metric = str(request.query.get("metric") or "")
            metrics.definition(metric)
            where = parse_scope(str(request.query.get("scope") or "")) if request.query.get("scope") else {}
        except KeyError:
            return view.json({"error": f"no metric {request.query.get('metric')!r}"}, status=400)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        try:
            gate.scoped(principal, region_of(where), where.get("team"))
        except Denied as denied:
            return refuse(view, denied)
        try:
            found = plateau(history.index, metrics, metric, where, now_ms(), plateaus,
                            changes_from_backlog(backlog(), metric, where))  # fmt: skip
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        return view.json(plateau_json(found))

    @app.page("/api/audits")
    async def audit_list(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        if history is None or not history.ready:
            return unavailable(view)
        at = now_ms()
        through = day_to_review(at, metrics.grace_ms) + DAY_MS
        body = []
        for audit in audits.audits:
            results = [
                r
                for r in run_audit(audit, metrics, history.index, through, names)
                if principal.in_scope(region_of(r.scope), None)
            ]
            body.append(audit_json(audit, results))
        return view.json({"audits": body})

    @app.page("/api/impact")
    async def impact(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        if history is None or not history.ready:
            return unavailable(view)
        query = request.query
        try:
            metric = str(query.get("metric") or "")
            metrics.definition(metric)
            treated = parse_scope(str(query.get("scope") or ""))
            controls = [parse_scope(c) for c in query.getall("control", [])] or None
            rollout = date.fromisoformat(str(query.get("rollout") or ""))
            before, after = int(query.get("before") or 56), int(query.get("after") or 28)
            if not (14 <= before <= 730 and 3 <= after <= 365):
                raise ValueError("before is 14-730 days, after 3-365")
        except KeyError:
            return view.json({"error": f"no metric {query.get('metric')!r}"}, status=400)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        for scope in [treated, *(controls or [])]:
            try:
                gate.scoped(principal, region_of(scope), scope.get("team"))
            except Denied as denied:
                return refuse(view, denied)
        at = int(datetime(rollout.year, rollout.month, rollout.day, tzinfo=UTC).timestamp() * 1000)
        try:
            found = change_impact(history.index, metrics, metric, treated, at, controls=controls, days_before=before,
                                  days_after=after, now_ms=now_ms(), alpha=1 - metrics.confidence)  # fmt: skip
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        for control in found.controls:  # matched controls a regional token may not read: it declares its own
            if not principal.in_scope(region_of(control), control.get("team")):
                return view.json({"error": f"the matched controls include {scope_text(control)}, outside "
                                  f"{principal.name}'s scope: name controls with control="}, status=403)  # fmt: skip
        body = impact_json(found)
        if query.get("chart") == "svg":
            body["chart"] = chart_of(found)
        return view.json(body)
