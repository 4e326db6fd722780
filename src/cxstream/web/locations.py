"""Variance across locations over HTTP, from this worker's copy of the metric history (every worker reads it whole):

* ``GET /api/sites`` - the declared locations (type, region, owner, partner), the metrics compared, the day last
  final, and how many comparisons a day makes and how many gaps pure noise would raise among them;
* ``GET /api/sites/funnel?metric=&day=&chart=svg`` - one metric's funnel on a closed day: every location's value
  with n and interval, its z (raw and with the random effect) and band, the target, the over-dispersion, and the
  execution gaps (``chart=svg``: the funnel plot);
* ``GET /api/sites/{site}/chart?metric=&days=&chart=svg`` - one location's control chart: each day's value, n and
  limits, and the Nelson rules that fire, named.

Locations outside the token's regions are left out (a regional token sees its region's funnel, around the target
of all locations).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import faust

from cxstream.agents.history import HistoryFeed
from cxstream.domain.access.principal import Principal
from cxstream.domain.base import Json, JsonObject, now_ms
from cxstream.domain.locations.gaps import day_to_review
from cxstream.domain.locations.spc import RULES
from cxstream.domain.locations.spec import Locations
from cxstream.domain.locations.variance import MetricFunnel, review_day, site_chart, site_days
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.topology import Topology
from cxstream.web.auth import Denied, Gate, refuse
from cxstream.web.spc_charts import ChartDay, FunnelDot, control_chart, funnel_chart


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()


def _day(query: Any, grace_ms: int) -> int:
    text = query.get("day")
    if not text:
        return day_to_review(now_ms(), grace_ms)
    day = date.fromisoformat(text)
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def funnel_json(mf: MetricFunnel, names: dict[str, str], regions: dict[str, str], principal: Principal) -> JsonObject:
    f = mf.funnel
    nps = mf.label.endswith("(NPS)")
    scale = 100.0

    def shown(value: float | None) -> float | None:
        return None if value is None else round(scale * value, 2)

    sites: list[Json] = []
    for row in mf.sites:
        if not principal.in_scope(regions.get(row.site), None):
            continue
        p = row.point
        sites.append({
            "site": row.site, "name": names.get(row.site, row.site), "region": regions.get(row.site),
            "value": shown(row.value), "n": row.n, "low": shown(row.low), "high": shown(row.high),
            "z": None if p is None else round(p.z, 3), "z_adjusted": None if p is None else round(p.z_adjusted, 3),
            "band": None if p is None else p.band,
            "limits": None if p is None else {"low95": shown(p.low95), "high95": shown(p.high95),
                                              "low998": shown(p.low998), "high998": shown(p.high998)},
            "insufficient": row.value is None,
        })  # fmt: skip
    return {
        "metric": mf.metric, "label": mf.label, "day": _iso(mf.day_ms), "unit": "points" if nps else "%",
        "higher_is_better": mf.higher_is_better,
        "target": None if f is None else shown(f.target),
        "phi": None if f is None else round(f.phi, 3), "tau": None if f is None else round(scale * f.tau2**0.5, 3),
        "dispersion_p": None if f is None else f.dispersion_p,
        "locations_compared": 0 if f is None else len(f.points), "sites": sites,
    }  # fmt: skip


def funnel_svg(mf: MetricFunnel, names: dict[str, str], keep: set[str]) -> str:
    f = mf.funnel
    nps = mf.label.endswith("(NPS)")
    unit = " pts" if nps else "%"
    day = _iso(mf.day_ms)
    if f is None:
        return funnel_chart(f"{mf.label} by location, {day}: fewer than two locations with enough answers", unit, 0.0,
                            {}, 0.0, [])  # fmt: skip
    rows = [r for r in mf.sites if r.point is not None and r.site in keep]
    ns = [r.n for r in rows] or [10]
    low, high = max(1, min(ns) // 2), max(ns) * 2
    steps = [int(low * (high / low) ** (i / 40)) + 1 for i in range(41)]
    target = f.target
    se_at = {n: 100 * mf.unit_se / n**0.5 for n in steps}
    dots = [FunnelDot(names.get(r.site, r.site), 100 * (r.value or 0.0), r.n, 100 * (r.low or 0.0),
                      100 * (r.high or 0.0), r.point.band if r.point else "inside") for r in rows]  # fmt: skip
    title = f"{mf.label} by location, {day}: {len(f.points)} locations around all {100 * target:.1f}{unit.strip()}" + (
        f"; over-dispersion tau {100 * f.tau2**0.5:.1f} points" if f.tau2 > 0 else ""
    )
    return funnel_chart(title, unit, 100 * target, se_at, 100 * f.tau2**0.5, dots,
                        bounded=None if nps else (0.0, 100.0))  # fmt: skip


def register(app: faust.App, gate: Gate, topology: Topology, spec: Locations, history: HistoryFeed | None) -> None:
    metrics = topology.metrics
    names = {s.id: s.name for s in topology.reference.sites}
    regions = {s.id: s.region for s in topology.reference.sites}
    grace = metrics.grace_ms

    def index_or_refusal(view: Any) -> Any:
        if history is None:
            return None, view.json({"error": "no metric history on this worker"}, status=404)
        if not history.ready:
            return None, view.json({"error": "the history is still loading; try again"}, status=503)
        return history.index, None

    @app.page("/api/sites")
    async def sites(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        from cxstream.domain.locations.variance import noise_budget, rule_false_alarm_rate

        shown = [s for s in spec.sites if principal.in_scope(regions.get(s.site), None)]
        per_day = len(spec.sites) * len(spec.variance.metrics)
        return view.json({
            "sites": [{"site": s.site, "name": names.get(s.site, s.site), "region": regions.get(s.site),
                       "type": s.type.value, "owner": s.owner, "partner": s.partner} for s in shown],
            "metrics": list(spec.variance.metrics), "day": _iso(day_to_review(now_ms(), grace)),
            "levels": {"alarm": spec.variance.alarm, "warning": spec.variance.warning},
            "rules": [{"rule": r, "name": RULES[r]} for r in spec.variance.rules],
            "noise": {"comparisons_per_day": per_day,
                      "expected_false_gaps_per_day": round(noise_budget(per_day, spec), 3),
                      "funnel_tail": (1 - spec.variance.alarm) / 2,
                      "rule_rate_per_point": round(rule_false_alarm_rate(tuple(spec.variance.rules)), 5)},
        })  # fmt: skip

    @app.page("/api/sites/funnel")
    async def funnel_view(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        metric = request.query.get("metric") or spec.variance.metrics[0]
        if metric not in spec.variance.metrics:
            return view.json({"error": f"metric must be one of {', '.join(spec.variance.metrics)}"}, status=400)
        try:
            day = _day(request.query, grace)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        index, refusal = index_or_refusal(view)
        if refusal is not None:
            return refusal
        one = Locations(sites=spec.sites, variance=spec.variance.model_copy(update={"metrics": [metric]}))
        review = review_day(metrics, index, one, day, names)
        [mf] = review.funnels
        keep = {s.site for s in spec.sites if principal.in_scope(regions.get(s.site), None)}
        body: dict[str, Any] = funnel_json(mf, names, regions, principal)
        body["gaps"] = [
            {"site": g.site, "rules": list(g.rules), "limit": None if g.limit is None else round(100 * g.limit, 2),
             "summary": g.summary}
            for g in review.gaps if g.site in keep
        ]  # fmt: skip
        if request.query.get("chart") == "svg":
            body["chart"] = funnel_svg(mf, names, keep)
        return view.json(body)

    @app.page("/api/sites/{site}/chart")
    class SiteChart(faust.web.View):
        async def get(self, request: Any, site: str) -> Any:
            try:
                principal = gate.principal(request)
            except Denied as denied:
                return refuse(self, denied)
            if spec.location(site) is None:
                return self.json({"error": f"no location {site}"}, status=404)
            try:
                gate.scoped(principal, regions.get(site), None)
            except Denied as denied:
                return refuse(self, denied)
            metric = request.query.get("metric") or spec.variance.metrics[0]
            if metric not in spec.variance.metrics:
                return self.json({"error": f"metric must be one of {', '.join(spec.variance.metrics)}"}, status=400)
            try:
                day = _day(request.query, grace)
                count = int(request.query.get("days") or spec.variance.chart_days)
                if not 8 <= count <= 366:
                    raise ValueError("days must be 8-366")
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            index, refusal = index_or_refusal(self)
            if refusal is not None:
                return refusal
            definition = metrics.definition(metric)
            starts = [day - (count - 1 - i) * DAY_MS for i in range(count)]
            days = site_days(index, metric, starts[0], day + DAY_MS).get(site, {})
            chart = site_chart(definition, days, starts)
            fired: dict[int, list[int]] = {}
            for f in chart.firings:
                fired.setdefault(f.at, []).append(f.rule)
            nps = definition.indicator.value == "nps"
            rows = [{"day": _iso(at), "share": None if p.share is None else round(100 * p.share, 2), "n": p.n,
                     "lcl": None if p.limits is None else round(100 * p.limits.lcl, 2),
                     "ucl": None if p.limits is None else round(100 * p.limits.ucl, 2),
                     "z": None if p.z is None else round(p.z, 3), "rules": sorted(fired.get(i, []))}
                    for i, (at, p) in enumerate(zip(starts, chart.points, strict=True))]  # fmt: skip
            what = "detractors" if nps else definition.title
            body: dict[str, Any] = {
                "site": site, "name": names.get(site, site), "metric": metric, "charted": what,
                "centre": None if chart.centre is None else round(100 * chart.centre, 2),
                "sigma_z": round(chart.sigma_z, 3), "days": rows,
                "firings": [{"rule": f.rule, "name": f.name, "day": _iso(starts[f.at])} for f in chart.firings],
            }  # fmt: skip
            if request.query.get("chart") == "svg":
                laney = f"; limits widened x{chart.sigma_z:.2f} (Laney p')" if chart.sigma_z > 1 else ""
                body["chart"] = control_chart(
                    f"{names.get(site, site)}: {what} per day, p-chart{laney}", "%",
                    body["centre"], [
                        ChartDay(at, None if p.share is None else 100 * p.share,
                                 None if p.limits is None else 100 * p.limits.lcl,
                                 None if p.limits is None else 100 * p.limits.ucl, p.n, tuple(sorted(fired.get(i, []))))
                        for i, (at, p) in enumerate(zip(starts, chart.points, strict=True))
                    ])  # fmt: skip
            return self.json(body)


def register_playbooks(app: faust.App, gate: Gate, topology: Topology, history: HistoryFeed | None) -> None:
    """``GET /api/playbooks``: the playbooks and the version each site runs today (the rollout map);
    ``GET /api/playbooks/{id}?site=``: the playbook as a site runs it, and each wave's before and after with the
    spread across its sites (from the metric history)."""
    from cxstream.domain.locations.playbooks import rollout_map, wave_reports
    from cxstream.domain.locations.views import effective_json, wave_json

    declared = topology.playbooks
    sites = [s.id for s in topology.reference.sites]
    regions = {s.id: s.region for s in topology.reference.sites}

    @app.page("/api/playbooks")
    async def playbooks(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        shown = [s for s in sites if principal.in_scope(regions.get(s), None)]
        versions = rollout_map(declared.playbooks, shown, datetime.now(UTC).date())
        return view.json({"playbooks": [
            {"id": p.id, "display": p.display, "version": p.version, "owner": p.owner, "metrics": list(p.metrics),
             "sites": versions[p.id], "waves": [{"id": w.id, "version": w.version, "sites": list(w.sites),
                                                  "starts": w.starts.isoformat()} for w in p.waves]}
            for p in declared.playbooks
        ]})  # fmt: skip

    @app.page("/api/playbooks/{playbook_id}")
    class OnePlaybook(faust.web.View):
        async def get(self, request: Any, playbook_id: str) -> Any:
            try:
                principal = gate.principal(request)
            except Denied as denied:
                return refuse(self, denied)
            playbook = declared.playbook(playbook_id)
            if playbook is None:
                return self.json({"error": f"no playbook {playbook_id}"}, status=404)
            site = request.query.get("site") or ""
            if site:
                try:
                    gate.scoped(principal, regions.get(site), None)
                except Denied as denied:
                    return refuse(self, denied)
            body: dict[str, Any] = {"effective": effective_json(playbook.for_site(site, regions.get(site)))}
            if history is None or not history.ready:
                body["waves"] = None
                body["waves_note"] = "the metric history is not loaded on this worker yet"
                return self.json(body)
            metrics = topology.metrics
            reports = wave_reports(playbook, metrics, history.index, declared.compare_days, metrics.min_n,
                                   datetime.now(UTC).date())  # fmt: skip
            body["waves"] = [wave_json(r) for r in reports]
            return self.json(body)
