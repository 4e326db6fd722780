"""Customer tolerance and thresholds over HTTP, from this worker's copy of the metric history.

* ``GET /api/tolerance?pair=&scope=region:emea[&chart=svg]`` - the pair's tolerance curves (over all and per
  scope, or the one scope): satisfaction per band of the operational value with n and interval, the monotone curve
  with its band, the tolerance point with its interval, the slope beyond it; ``chart=svg`` draws the first curve
  with the tolerance point and the levels proposed for the rule on the operational metric;
* ``GET /api/thresholds[?rule=&scope=region:emea]`` - every threshold rule's levels and SLA in force with where
  they came from, and, for ``rule``, the levels proposed from the history and the customers' tolerance with what
  each would have done per month.

A regional token reads the scopes of its region only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import faust

from cxstream.agents.history import HistoryFeed
from cxstream.domain.alerting.thresholds import ThresholdRule
from cxstream.domain.base import now_ms
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.tolerance.curves import ToleranceCurve, curves
from cxstream.domain.tolerance.proposals import RuleProposal, propose
from cxstream.domain.tolerance.spec import TolerancePair, ToleranceSpec
from cxstream.domain.tolerance.views import curve_json, in_force_json, proposal_json
from cxstream.web.auth import Denied, Gate, refuse
from cxstream.web.charts import XY, Level, curve
from cxstream.web.impact import parse_scope


def tolerance_chart(found: ToleranceCurve, proposal: RuleProposal | None) -> str:
    """Satisfaction per band (dots with n and interval), the monotone curve with its band, the tolerance point and
    the proposed warning and critical levels on the operational axis."""
    t = found.tolerance
    answers = [XY(b.middle, 100 * b.share, 100 * b.low, 100 * b.high, b.n) for b in t.bands]
    fitted = [XY(b.middle, 100 * b.fitted, None if b.fitted_low is None else 100 * b.fitted_low,
                 None if b.fitted_high is None else 100 * b.fitted_high) for b in t.bands]  # fmt: skip
    marks = []
    if t.point is not None:
        marks.append(Level(f"tolerance {t.point:.0f} {found.unit}", t.point, "target"))
    scope = proposal.overall if proposal is not None else None
    if proposal is not None and found.scope:
        scope = next((s for s in proposal.scopes if dict(s.scope) == dict(found.scope)), scope)
    if scope is not None and scope.warning is not None and scope.critical is not None:
        marks.append(Level(f"warning {scope.warning:g} {found.unit}", scope.warning, "warning"))
        marks.append(Level(f"critical {scope.critical:g} {found.unit}", scope.critical, "critical"))
    where = ", ".join(f"{k} {v.upper() if k == 'region' else v}" for k, v in found.scope.items()) or "over all"
    title = f"{found.satisfaction_label} by {found.operational_label.lower()} ({found.unit}), {where}, n={t.n:,}"
    return curve(title, found.unit, "%", [("answers", answers), ("curve", fitted)], markers=marks, width=900,
                 height=300, font=14)  # fmt: skip


def _region_allowed(gate: Gate, principal: Any, where: Mapping[str, str]) -> None:
    gate.scoped(principal, where.get("region"), where.get("team"))


def register(app: faust.App, gate: Gate, metrics: MetricsSpec, tolerance: ToleranceSpec,
             rules: tuple[ThresholdRule, ...], history: HistoryFeed | None) -> None:  # fmt: skip
    def unavailable(view: Any) -> Any:
        if history is None:
            return view.json({"error": "no metric history on this worker"}, status=404)
        return view.json({"error": "the metric history is still being read"}, status=503)

    computed: dict[str, tuple[tuple[int, int], list[ToleranceCurve]]] = {}

    def curves_of(pair: TolerancePair) -> list[ToleranceCurve]:
        """The pair's curves over all and per scope, computed once per day and history size: each is hundreds of
        bootstrap fits, and the page asks for them with the chart and again with every rule's proposal."""
        assert history is not None
        at = now_ms()
        version = (at // DAY_MS, history.index.count())
        held = computed.get(pair.id)
        if held is None or held[0] != version:
            held = (version, curves(tolerance, pair, metrics, history.index, at))
            computed[pair.id] = held
        return held[1]

    def proposal_for(rule: ThresholdRule | None, where: Mapping[str, str] | None) -> RuleProposal | None:
        """The rule's levels proposed from the history and the tolerance of the pairs on its metric."""
        assert history is not None
        if rule is None:
            return None
        found = [c for p in tolerance.pairs if p.operational == rule.metric for c in curves_of(p)]
        return propose(rule, metrics, history.index, datetime.now(UTC), found, only=where)

    def asked_scope(request: Any, principal: Any) -> dict[str, str] | None:
        """The ``scope`` asked for (None: every scope); raises ValueError for a bad one, Denied outside the token's."""
        where = parse_scope(str(request.query.get("scope"))) if request.query.get("scope") else None
        _region_allowed(gate, principal, where or {})
        return where

    @app.page("/api/tolerance")
    async def tolerance_view(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        if history is None or not history.ready:
            return unavailable(view)
        pair_id = request.query.get("pair") or (tolerance.pairs[0].id if tolerance.pairs else "")
        try:
            pair = tolerance.pair(pair_id)
        except KeyError:
            return view.json({"error": f"no tolerance pair {pair_id!r}"}, status=400)
        try:
            where = asked_scope(request, principal)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        except Denied as denied:
            return refuse(view, denied)
        found = [c for c in curves_of(pair) if (dict(c.scope) == where if where is not None else
                                                 principal.reads_scope(c.scope))]  # fmt: skip
        pairs = []
        for p in tolerance.pairs:
            operational, satisfaction = metrics.definition(p.operational), metrics.definition(p.satisfaction)
            pairs.append({"id": p.id, "title": satisfaction.title, "operational": p.operational,
                          "operational_label": operational.title,
                          "satisfaction": p.satisfaction, "satisfaction_label": satisfaction.title})  # fmt: skip
        body: dict[str, Any] = {"pair": pair.id, "pairs": pairs, "curves": [curve_json(c) for c in found]}
        if request.query.get("chart") == "svg" and found:
            rule = next((r for r in rules if r.metric == pair.operational), None)
            body["chart"] = tolerance_chart(found[0], proposal_for(rule, where or {}))
        return view.json(body)

    @app.page("/api/thresholds")
    async def thresholds_view(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        body: dict[str, Any] = {"in_force": in_force_json(rules, metrics)}
        rule_id = request.query.get("rule")
        if rule_id is None:
            return view.json(body)
        rule = next((r for r in rules if r.id == rule_id), None)
        if rule is None:
            return view.json({"error": f"no threshold rule {rule_id!r}"}, status=400)
        if history is None or not history.ready:
            return unavailable(view)
        try:
            where = asked_scope(request, principal)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        except Denied as denied:
            return refuse(view, denied)
        proposal = proposal_for(rule, where)
        assert proposal is not None
        readable = replace(proposal, scopes=tuple(s for s in proposal.scopes if principal.reads_scope(s.scope)))
        body["proposal"] = proposal_json(readable)
        return view.json(body)
