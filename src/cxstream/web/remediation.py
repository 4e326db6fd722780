"""The improvement loop over HTTP. Reads answer from this worker's copy of the backlog (every worker folds the
whole ``cx.remediation``), the metric history and the live cells of every partition (asked of the other
workers with the caller's credentials):

* ``GET /api/remediation`` - the backlog by priority (``all=1``: closed items too), each item with its priority
  and its components, the approvals still missing, and its verdict so far;
* ``GET /api/remediation/items/{id}`` - one item with its FMEA, approvals, rollouts, audit trail, the Pareto of
  where its cause happens in its region, its measured reach, and the pre/post comparison per target metric and
  rolled-out scope (``chart=svg``: the charts);
* ``GET /api/remediation/pareto?source=drivers|causes|<pareto id>&region=&period=7d`` - a Pareto of this
  period against the one before, with the test of what moved;
* ``GET /api/remediation/trees`` and ``/api/remediation/trees/{id}?period=7d`` - fault trees on live evidence;
* ``GET /api/remediation/procedures`` - the procedure version each site or team runs;
* ``POST /api/remediation/items`` (propose) and ``POST /api/remediation/items/{id}/actions`` - actions checked
  by role and against the item's state, then published and audited.

Who may act: analysts propose, analyse and comment; supervisors also define changes, approve or refuse for a
department their team owns, start, roll out, drop and reopen; admins do all. Viewers read.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from cxstream.agents.history import HistoryFeed
from cxstream.agents.metric_tables import MetricTables
from cxstream.agents.remediation import Verdicts
from cxstream.agents.remediation_feed import RemediationFeed
from cxstream.domain.access.principal import Principal, Role
from cxstream.domain.base import Json, JsonObject, digest, now_ms, to_ms
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.impact.changes import item_impacts
from cxstream.domain.impact.views import impact_summary_json
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.domain.remediation.checks import ItemCheck
from cxstream.domain.remediation.evidence import MetricReader, Rate, TreeView, failure_rate, tree_view
from cxstream.domain.remediation.fmea import FailureMode
from cxstream.domain.remediation.items import (
    BACKLOG,
    PERSON_SOURCES,
    Action,
    Change,
    Item,
    ItemAction,
    Refused,
    apply,
    item_priority,
    metric_problems,
)
from cxstream.domain.remediation.pareto import Pareto, pareto
from cxstream.domain.remediation.priority import weekly_rate
from cxstream.domain.remediation.records import action_record
from cxstream.domain.remediation.spec import OperationalPareto, Remediation
from cxstream.domain.remediation.verdict import Comparison
from cxstream.domain.remediation.views import item_view, procedures_json, with_measured_reach
from cxstream.domain.topology import Topology
from cxstream.web import charts
from cxstream.web.auth import Denied, Gate, audit, refuse
from cxstream.web.live import gather_cells
from cxstream.web.rca_charts import ParetoBar, TreeNode, pareto_chart, tree_chart
from cxstream.web.reads import Reads

ANALYST_ACTIONS = frozenset({ItemAction.PROPOSE, ItemAction.ANALYSE, ItemAction.COMMENT, ItemAction.REPRIORITISE})
PERSON_ACTIONS = frozenset(ItemAction) - {ItemAction.VERIFY, ItemAction.FAIL}
DEFAULT_PERIOD = "7d"


def may(principal: Principal, kind: ItemAction) -> bool:
    if principal.role is Role.ADMIN:
        return kind in PERSON_ACTIONS
    if principal.role is Role.SUPERVISOR:
        return kind in PERSON_ACTIONS
    return principal.role is Role.ANALYST and kind in ANALYST_ACTIONS


def pareto_json(found: Pareto, names: Mapping[str, str]) -> JsonObject:
    return {
        "total": found.total, "previous_total": found.previous_total, "fdr": found.fdr,
        "mix_p_value": found.mix_p_value,
        "rows": [
            {"key": r.key, "name": names.get(r.key, r.key), "count": r.count, "share": round(r.share, 4),
             "low": round(r.low, 4), "high": round(r.high, 4), "cumulative": round(r.cumulative, 4),
             "previous_count": r.previous_count,
             "previous_share": None if r.previous_share is None else round(r.previous_share, 4),
             "p_value": r.p_value, "q_value": r.q_value, "moved": r.moved}
            for r in found.rows
        ],
        "moved_most": (m.key if (m := found.moved_most()) is not None else None),
    }  # fmt: skip


def pareto_svg(title: str, found: Pareto, names: Mapping[str, str]) -> str:
    bars = [ParetoBar(names.get(r.key, r.key), r.count, r.share, r.low, r.high, r.cumulative, r.moved)
            for r in found.rows]  # fmt: skip
    return pareto_chart(title, bars, found.total)


def comparison_json(where: Mapping[str, str], c: Comparison) -> JsonObject:
    def points(value: float | None) -> float | None:
        return None if value is None else round(100 * value, 2)

    return {
        "where": dict(where), "method": c.method, "metric": c.metric, "label": c.label,
        "before": points(c.before), "after": points(c.after), "n_before": c.n_before, "n_after": c.n_after,
        "difference": None if c.difference is None else round(c.difference, 2),
        "low": None if c.low is None else round(c.low, 2), "high": None if c.high is None else round(c.high, 2),
        "p_value": c.p_value, "needed_per_side": c.needed, "decision": c.decision, "summary": c.summary,
        "confidence": c.confidence,
    }  # fmt: skip


def check_json(check: ItemCheck | None) -> JsonObject:
    if check is None:
        return {"decision": None, "comparisons": [], "waiting": 0}
    return {"decision": check.decision, "waiting": check.waiting,
            "comparisons": [comparison_json(w, c) for w, c in check.comparisons]}  # fmt: skip


def comparison_svg(c: Comparison) -> str:
    """Before and after with their intervals (Wilson), and the difference's interval in the title."""
    from cxstream.domain.metrics.stats import wilson

    rows = []
    for label, value, n in (("before the rollout", c.before, c.n_before), ("after the rollout", c.after, c.n_after)):
        if value is None or not n or c.label.endswith("(NPS)"):
            rows.append(charts.Estimate(label, None if value is None else 100 * value, None, None, n))
            continue
        low, high = wilson(value * n, n, c.confidence)
        rows.append(charts.Estimate(label, 100 * value, 100 * low, 100 * high, n))
    difference = "" if c.difference is None else (
        f": {c.difference:+.1f} points, {round(100 * c.confidence)} % CI [{c.low:.1f}, {c.high:.1f}] ({c.decision})"
    )  # fmt: skip
    lo = min((r.low if r.low is not None else r.value or 0.0) for r in rows) if rows else 0.0
    hi = max((r.high if r.high is not None else r.value or 100.0) for r in rows) if rows else 100.0
    reference = charts.Level(f"before {100 * c.before:.1f}%", 100 * c.before, "target") if c.before else None
    return charts.forest(f"{c.label}, {c.method}{difference}", rows, reference, "%",
                         lo=max(0.0, lo - 5), hi=min(100.0, hi + 5))  # fmt: skip


def tree_json(view: TreeView) -> JsonObject:
    top = view.top
    return {
        "id": view.tree.id, "display": view.tree.display, "where": dict(view.tree.where),
        "from": datetime.fromtimestamp(view.start_ms / 1000, UTC).isoformat(),
        "to": datetime.fromtimestamp(view.end_ms / 1000, UTC).isoformat(),
        "events": [
            {"name": e.name, "display": e.display, "source": e.source, "probability": e.probability, "low": e.low,
             "high": e.high, "hits": e.hits, "n": e.n, "metric": e.metric,
             "where": dict(e.where) if e.where is not None else None}
            for e in view.events
        ],
        "cut_sets": [{"events": list(c.events), "probability": c.probability, "share": round(c.share, 4)}
                     for c in view.cut_sets],
        "probability": None if top is None else {
            "exact": top.exact, "rare_event_bound": top.rare_event, "min_cut_bound": top.min_cut_bound,
            "low": view.top_low, "high": view.top_high,
        },
        "explains": list(view.cut_sets[0].events) if view.cut_sets else None,
    }  # fmt: skip


def tree_svg(view: TreeView) -> str:
    likely = set(view.cut_sets[0].events) if view.cut_sets else set()
    evidence = {e.name: e for e in view.events}
    nodes = [TreeNode(name, view.tree.name_of(name), gate.gate.value, tuple(gate.inputs))
             for name, gate in view.tree.gates.items()]  # fmt: skip
    for name in view.tree.events:
        e = evidence[name]
        if e.probability is None:
            detail = f"insufficient sample (n={e.n or 0})"
        elif e.source == "observed":
            detail = f"{100 * e.probability:.1f}% [{100 * (e.low or 0):.1f}, {100 * (e.high or 0):.1f}] n={e.n}"
        else:
            seen = f"; n={e.n} observed" if e.n is not None else ""
            detail = f"{100 * e.probability:.1f}% (estimate{seen})"
        nodes.append(TreeNode(name, e.display, "EVENT", (), detail, name in likely))
    top = view.top
    title = view.tree.display + (
        f": {100 * top.best:.2f}% ({'exact' if top.exact is not None else 'upper bound'}; range over the events' "
        f"intervals {100 * (view.top_low or 0):.2f} to {100 * (view.top_high or 0):.2f}%)" if top is not None
        else ": not computed (an event has too few observations and no estimate)"
    )  # fmt: skip
    return tree_chart(title, view.tree.top, nodes)


@dataclass(frozen=True)
class MeasuredReach:
    """Affected customers per week where an item's cause shows, with the exact Poisson interval, from ``hits``
    failures of ``n`` in the last seven days."""

    per_week: float
    low: float
    high: float
    hits: int
    n: int
    metric: str
    rate: str
    where: Mapping[str, str]

    def to_json(self) -> JsonObject:
        return {"per_week": round(self.per_week, 1), "low": round(self.low, 1), "high": round(self.high, 1),
                "hits": self.hits, "n": self.n, "metric": self.metric, "rate": self.rate,
                "where": dict(self.where)}  # fmt: skip


class RemediationReads:
    """What the routes compute, given the cells gathered for a request."""

    def __init__(self, topology: Topology, spec: Remediation, tables: MetricTables, history: HistoryFeed | None,
                 feed: RemediationFeed, verdicts: Verdicts | None, reads: Reads) -> None:  # fmt: skip
        self.topology = topology
        self.metrics: MetricsSpec = topology.metrics
        self.spec = spec
        self.tables = tables
        self.history = history
        self.feed = feed
        self.verdicts = verdicts
        self.reads = reads
        verbatims = topology.verbatims
        self.driver_names = {d: verbatims.driver_name(d) for lexicon in verbatims.lexicons for d in lexicon.drivers}
        self.cause_names = {c.code: c.display for c in spec.root_causes.codes}
        self.site_names = {s.id: s.name for s in topology.reference.sites}

    def needed(self, items: Sequence[Item], *, with_modes: bool = False) -> set[str]:
        """The metric definitions the items' reach (their cause's Pareto) and, ``with_modes``, their observed
        failure modes are read from."""
        found = set()
        for item in items:
            code = self.spec.root_causes.find(item.cause_code) if item.cause_code else None
            chosen = self.spec.pareto(code.pareto) if code is not None and code.pareto else None
            if chosen is not None:
                found.add(chosen.metric)
            if with_modes and item.change is not None:
                found |= {m.observed.metric for m in item.change.failure_modes if m.observed is not None}
        return found

    def survey_metrics(self, where: Mapping[str, str]) -> set[str]:
        """The survey definitions that keep every dimension of ``where`` (their detractors' drivers)."""
        return {d.id for d in self.metrics.definitions if d.indicator.value in ("csat", "ces", "nps")
                and all(k in d.dimensions for k in where)}  # fmt: skip

    def reads_until(self) -> int:
        """The end of a period read up to now: the end of the bucket now is in (periods are read in whole buckets,
        and the bucket in progress holds what happened so far)."""
        finest = self.metrics.finest_ms
        return -(-now_ms() // finest) * finest

    def reader(self, cells: list[Any], at: int) -> MetricReader:
        return MetricReader(self.metrics, self.history.index if self.history is not None else None, cells, at)

    def operational(self, reader: MetricReader, chosen: OperationalPareto, where: Mapping[str, str], start: int,
                    end: int) -> dict[str, int]:  # fmt: skip
        """Failures of the pareto's metric by its dimension in [start, end)."""
        definition = self.metrics.definition(chosen.metric)
        kept = {k: v for k, v in where.items() if k in definition.dimensions and k != chosen.by}
        values = {c.key.scope[definition.dimensions.index(chosen.by)] for c in reader.cells
                  if c.key.definition == chosen.metric}  # fmt: skip
        if self.history is not None:
            index = definition.dimensions.index(chosen.by)
            values |= {f.key.scope[index] for f in self.history.index.facts(chosen.metric, 86_400_000, start, end)
                       if len(f.key.scope) > index}  # fmt: skip
        counts = {}
        for value in sorted(values):
            observed = reader.read(chosen.metric, start, end, {**kept, chosen.by: value})
            hits = failure_rate(definition, observed.stats, chosen.rate).hits
            if hits:
                counts[value] = hits
        return counts

    def drivers(self, reader: MetricReader, where: Mapping[str, str], start: int, end: int) -> dict[str, int]:
        """Drivers named in detractors' comments, over every survey metric kept by the asked dimensions."""
        counts: dict[str, int] = {}
        for definition_id in sorted(self.survey_metrics(where)):
            for driver, count in reader.read(definition_id, start, end, where).drivers.items():
                counts[driver] = counts.get(driver, 0) + count
        return counts

    async def causes(self, request: Any, principal: Principal, where: Mapping[str, str], start: int,
                     end: int) -> dict[str, int]:  # fmt: skip
        cases, _ = await self.reads.cases(request, principal, {})
        counts: dict[str, int] = {}
        for case in cases:
            if case.root_cause_code is None or case.resolved_ms is None or not start <= case.resolved_ms < end:
                continue
            if any(case.labels.get(k) != v for k, v in where.items()):
                continue
            counts[case.root_cause_code] = counts.get(case.root_cause_code, 0) + 1
        return counts

    def failure_rates(self, reader: MetricReader, item: Item, at: int) -> dict[str, Rate]:
        """Each observed failure mode's rate over the last seven days."""
        found = {}
        for mode in item.change.failure_modes if item.change is not None else ():
            if mode.observed is None:
                continue
            definition = self.metrics.definition(mode.observed.metric)
            observed = reader.read(mode.observed.metric, at - 7 * 86_400_000, at, mode.observed.where)
            found[mode.id] = failure_rate(definition, observed.stats, mode.observed.rate)
        return found

    def reach_of(self, reader: MetricReader, item: Item, at: int) -> tuple[float, float, float] | None:
        found = self.measured_reach(reader, item, at)
        return None if found is None else (found.per_week, found.low, found.high)

    def measured_reach(self, reader: MetricReader, item: Item, at: int) -> MeasuredReach | None:
        """Affected customers per week where the item's cause shows (its pareto's failures in the item's scope over
        the last seven days), with the exact Poisson interval."""
        code = self.spec.root_causes.find(item.cause_code) if item.cause_code else None
        chosen = self.spec.pareto(code.pareto) if code is not None and code.pareto else None
        if chosen is None:
            return None
        definition = self.metrics.definition(chosen.metric)
        where: dict[str, Json] = {k: v for k, v in item.labels.items() if k in definition.dimensions}
        observed = reader.read(chosen.metric, at - 7 * 86_400_000, at, {k: str(v) for k, v in where.items()})
        found = failure_rate(definition, observed.stats, chosen.rate)
        rate, low, high = weekly_rate(found.hits, 7)
        return MeasuredReach(rate, low, high, found.hits, found.n, chosen.metric, chosen.rate,
                             {k: str(v) for k, v in where.items()})  # fmt: skip


def _period(query: Mapping[str, str]) -> int:
    text = query.get("period") or DEFAULT_PERIOD
    ms = parse_duration_ms(text)
    if ms <= 0 or ms > 92 * 86_400_000:
        raise ValueError("period must be positive and at most 92d")
    return ms


def _where(query: Mapping[str, str]) -> dict[str, str]:
    return {k: query[k] for k in ("region", "site", "team") if query.get(k)}


def _change(body: Mapping[str, Any]) -> Change | None:
    data = body.get("change")
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError("change must be an object")
    from cxstream.domain.remediation.spec import ChangeFile

    declared = ChangeFile.model_validate(data)
    return Change(declared.description, tuple(declared.departments), tuple(declared.processes), declared.regulated,
                  declared.procedure, declared.procedure_version,
                  tuple(FailureMode.model_validate(m.model_dump()) for m in declared.failure_modes),
                  tuple(declared.target_metrics))  # fmt: skip


def _weeks(body: Mapping[str, Any]) -> dict[str, float]:
    given = body.get("requests") or {}
    if not isinstance(given, dict):
        raise ValueError("requests must be an object: resource -> weeks")
    return {str(k): float(_number(given, str(k)) or 0.0) for k in given}


def _source(body: Mapping[str, Any]) -> str:
    source = str(body.get("source") or "manual")
    if source not in PERSON_SOURCES:
        raise ValueError(f"source must be one of {', '.join(PERSON_SOURCES)}")
    return source


def _number(body: Mapping[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    return float(value)


def register(app: faust.App, gate: Gate, reads: RemediationReads, actions_topic: Any) -> None:
    spec = reads.spec

    def principal_of(request: Any) -> Principal:
        return gate.principal(request)

    async def cells(request: Any, definitions: set[str]) -> list[Any]:
        """The cells of every worker, of the definitions a read needs only (none: no asking)."""
        if not definitions:
            return []
        found, _ = await gather_cells(app, reads.tables, request, definitions)
        return found

    @app.page("/api/remediation")
    async def backlog(view: Any, request: Any) -> Any:
        try:
            principal = principal_of(request)
        except Denied as denied:
            return refuse(view, denied)
        if not reads.feed.ready:
            return view.json({"error": "the backlog is still loading; try again"}, status=503)
        everything = request.query.get("all") in ("1", "true")
        checks = reads.verdicts.checks() if reads.verdicts is not None else {}
        backlog_now = reads.feed.backlog
        items = [i for i in backlog_now.items.values() if (everything or i.state in BACKLOG)
                 and principal.in_scope(i.labels.get("region"), None)]  # fmt: skip
        at = reads.reads_until()
        unmeasured = [i for i in items if i.reach <= 0]
        reader = reads.reader(await cells(request, reads.needed(unmeasured)), at) if unmeasured else None
        measured = {i.item_id: reads.reach_of(reader, i, at) if reader is not None else None for i in items}
        ranked = sorted(
            items,
            key=lambda i: (
                -item_priority(with_measured_reach(i, measured[i.item_id]), spec).score,
                i.created_ms,
                i.item_id,
            ),
        )
        rows = [{**item_view(i, backlog_now, measured=measured[i.item_id]), "check": check_json(checks.get(i.item_id))}
                for i in ranked]  # fmt: skip
        return view.json({"items": rows, "count": len(rows)})

    @app.page("/api/remediation/allocation")
    async def allocation(view: Any, request: Any) -> Any:
        try:
            gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        from cxstream.domain.remediation.allocation import plan
        from cxstream.domain.remediation.views import plan_json

        items = list(reads.feed.backlog.items.values())
        if any(i.reach <= 0 for i in items):  # reach measured where none was given, as the backlog shows it
            at = reads.reads_until()
            reader = reads.reader(await cells(request, reads.needed([i for i in items if i.reach <= 0])), at)
            items = [with_measured_reach(i, reads.reach_of(reader, i, at)) for i in items]
        try:
            found = plan(items, spec)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        return view.json(plan_json(found, {i.item_id: i.title for i in items}))

    @app.page("/api/remediation/procedures")
    async def procedures(view: Any, request: Any) -> Any:
        try:
            principal_of(request)
        except Denied as denied:
            return refuse(view, denied)
        sites = [s.id for s in reads.topology.reference.sites]
        return view.json({"procedures": procedures_json(reads.feed.backlog.procedures(sites))})

    @app.page("/api/remediation/items/{item_id}")
    class OneItem(faust.web.View):
        async def get(self, request: Any, item_id: str) -> Any:
            try:
                principal = principal_of(request)
            except Denied as denied:
                return refuse(self, denied)
            item = reads.feed.backlog.items.get(item_id)
            if item is None:
                return self.json({"error": f"no remediation item {item_id}"}, status=404)
            try:
                gate.scoped(principal, item.labels.get("region"), None)
            except Denied as denied:
                return refuse(self, denied)
            at = reads.reads_until()
            reader = reads.reader(await cells(request, reads.needed([item], with_modes=True)), at)
            body: dict[str, Any] = item_view(item, reads.feed.backlog, with_trail=True,
                                             measured=reads.reach_of(reader, item, at),
                                             observed=reads.failure_rates(reader, item, at))  # fmt: skip
            check = reads.verdicts.checks(at).get(item_id) if reads.verdicts is not None else None
            body["check"] = check_json(check)
            reach = reads.measured_reach(reader, item, at)
            body["measured_reach"] = reach.to_json() if reach is not None else None
            code = spec.root_causes.find(item.cause_code) if item.cause_code else None
            chosen = spec.pareto(code.pareto) if code is not None and code.pareto else None
            charts_out: dict[str, Any] = {}
            if chosen is not None:
                week = 7 * 86_400_000
                where = {k: v for k, v in item.labels.items() if k == "region"}
                now_counts = reads.operational(reader, chosen, where, at - week, at)
                before_counts = reads.operational(reader, chosen, where, at - 2 * week, at - week)
                found = pareto(now_counts, before_counts)
                names = reads.site_names if chosen.by == "site" else {}
                body["pareto"] = {"id": chosen.id, "display": chosen.display, "where": where,
                                  **pareto_json(found, names)}  # fmt: skip
                scope = ", ".join(f"{k} {v}" for k, v in where.items()) or "all regions"
                charts_out["pareto"] = pareto_svg(f"{chosen.display}, {scope}, last 7 days against the 7 before",
                                                  found, names)  # fmt: skip
            history = reads.history
            if item.change is not None and item.rollouts and history is not None and history.ready:
                impacts = item_impacts([(r.scope, r.at_ms) for r in item.rollouts], item.change.target_metrics,
                                       history.index, reads.metrics, at, 1 - reads.metrics.confidence)  # fmt: skip
                body["impact"] = [impact_summary_json(f) for f in impacts]
            if request.query.get("chart") == "svg":
                body["charts"] = {**charts_out, "comparisons": [comparison_svg(c) for _, c in
                                                                (check.comparisons if check else ())]}  # fmt: skip
            return self.json(body)

    @app.page("/api/remediation/pareto")
    async def pareto_view(view: Any, request: Any) -> Any:
        try:
            principal = principal_of(request)
            period = _period(request.query)
        except Denied as denied:
            return refuse(view, denied)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        where = _where(request.query)
        try:
            gate.scoped(principal, where.get("region"), where.get("team"))
        except Denied as denied:
            return refuse(view, denied)
        if principal.regions and "region" not in where and principal.role is not Role.ADMIN:
            if len(principal.regions) != 1:
                return view.json({"error": "name the region (?region=)"}, status=400)
            where["region"] = next(iter(principal.regions))
        source = request.query.get("source") or "drivers"
        at = reads.reads_until()
        if source == "causes":
            now_counts = await reads.causes(request, principal, where, at - period, at)
            before_counts = await reads.causes(request, principal, where, at - 2 * period, at - period)
            names, title = reads.cause_names, "Root causes of resolved cases"
        else:
            chosen_pareto = spec.pareto(source)
            wanted = reads.survey_metrics(where) if source == "drivers" else (
                {chosen_pareto.metric} if chosen_pareto is not None else set())  # fmt: skip
            reader = reads.reader(await cells(request, wanted), at)
            if source == "drivers":
                now_counts = reads.drivers(reader, where, at - period, at)
                before_counts = reads.drivers(reader, where, at - 2 * period, at - period)
                names, title = reads.driver_names, "Drivers in detractors' comments"
            else:
                chosen = spec.pareto(source)
                if chosen is None:
                    known = ", ".join(["drivers", "causes", *(p.id for p in spec.paretos)])
                    return view.json({"error": f"unknown source {source!r} ({known})"}, status=400)
                now_counts = reads.operational(reader, chosen, where, at - period, at)
                before_counts = reads.operational(reader, chosen, where, at - 2 * period, at - period)
                names = reads.site_names if chosen.by == "site" else {}
                title = chosen.display
        found = pareto(now_counts, before_counts)
        scope = ", ".join(f"{k} {v}" for k, v in where.items()) or "all regions"
        days = request.query.get("period") or DEFAULT_PERIOD
        body: dict[str, Any] = {"source": source, "title": title, "where": where, "period": days,
                                **pareto_json(found, names)}  # fmt: skip
        if request.query.get("chart") == "svg":
            body["chart"] = pareto_svg(f"{title}, {scope}, last {days} against the {days} before", found, names)
        return view.json(body)

    @app.page("/api/remediation/trees")
    async def trees(view: Any, request: Any) -> Any:
        try:
            principal_of(request)
        except Denied as denied:
            return refuse(view, denied)
        return view.json({"trees": [{"id": t.id, "display": t.display, "where": dict(t.where)}
                                    for t in spec.fault_trees]})  # fmt: skip

    @app.page("/api/remediation/trees/{tree_id}")
    class OneTree(faust.web.View):
        async def get(self, request: Any, tree_id: str) -> Any:
            try:
                principal = principal_of(request)
                period = _period(request.query)
            except Denied as denied:
                return refuse(self, denied)
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            tree = spec.tree(tree_id)
            if tree is None:
                return self.json({"error": f"no fault tree {tree_id}"}, status=404)
            try:
                gate.scoped(principal, tree.where.get("region"), tree.where.get("team"))
            except Denied as denied:
                return refuse(self, denied)
            at = reads.reads_until()
            evidence = {e.evidence.metric for e in tree.events.values() if e.evidence is not None}
            reader = reads.reader(await cells(request, evidence), at)
            found = tree_view(tree, reads.metrics, reader, at - period, at, confidence=reads.metrics.confidence,
                              min_n=reads.metrics.min_n)  # fmt: skip
            body = tree_json(found)
            if request.query.get("chart") == "svg":
                body["chart"] = tree_svg(found)
            return self.json(body)

    async def record(view: Any, request: Any, item_id: str | None) -> Any:
        try:
            principal = principal_of(request)
        except Denied as denied:
            return refuse(view, denied)
        try:
            body = json.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            kind = ItemAction.PROPOSE if item_id is None else ItemAction(str(body.get("action")))
            change = _change(body)
            if change is not None and (problems := metric_problems(change, reads.metrics)):
                raise ValueError("; ".join(problems))
        except (ValueError, TypeError) as exc:
            return view.json({"error": str(exc)}, status=400)
        if not may(principal, kind):
            return view.json({"error": f"{principal.name} ({principal.role.value}) may not {kind.value}"}, status=403)
        now = datetime.now(UTC)
        seed = f"{body.get('title')}|{principal.name}|{now.isoformat()}"
        new_id = item_id or f"rem-{digest(seed)}"
        before = reads.feed.backlog.items.get(new_id)
        if item_id is not None and before is None:
            return view.json({"error": f"no remediation item {item_id}"}, status=404)
        if before is not None:
            try:
                gate.scoped(principal, before.labels.get("region"), None)
            except Denied as denied:
                return refuse(view, denied)
        text = {k: (str(body[k]) if body.get(k) is not None else None) for k in
                ("comment", "title", "cause_code", "department", "metric")}  # fmt: skip
        try:
            severity = _number(body, "severity")
            action_digest = hashlib.sha256(f"{new_id}|{kind.value}|{principal.name}|{now.isoformat()}".encode())
            action = Action(
                action_id=f"ra-{action_digest.hexdigest()[:16]}", item_id=new_id, action=kind, actor=principal.name,
                at_ms=to_ms(now), role=principal.role.value,
                teams=tuple(sorted(principal.teams)), comment=text["comment"], title=text["title"],
                source=_source(body) if kind is ItemAction.PROPOSE else None, cause_code=text["cause_code"],
                labels={str(k): str(v) for k, v in (body.get("labels") or {}).items()},
                reach=_number(body, "reach"), severity=None if severity is None else int(severity),
                cost_weeks=_number(body, "cost_weeks"), risk=_number(body, "risk"), change=change,
                department=text["department"], scope={str(k): str(v) for k, v in (body.get("scope") or {}).items()},
                requests=_weeks(body), effect=_number(body, "effect"), effect_low=_number(body, "effect_low"),
                effect_high=_number(body, "effect_high"),
            )  # fmt: skip
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            return view.json({"error": str(exc)}, status=400)
        if kind is ItemAction.PROPOSE:
            try:
                gate.scoped(principal, action.labels.get("region"), None)
            except Denied as denied:
                return refuse(view, denied)
        try:
            after = apply(before, action, spec)
        except Refused as refused:
            return view.json({"error": refused.message, "rule": refused.rule_id}, status=409)
        await actions_topic.send(key=new_id.encode(), value=action_record(action))
        audit(principal, f"remediation.{kind.value}", item_id=new_id, action_id=action.action_id)
        return view.json({"item_id": new_id, "action_id": action.action_id, "state": after.state.value}, status=202)

    @app.page("/api/remediation/items")
    class Items(faust.web.View):
        async def post(self, request: Any) -> Any:
            return await record(self, request, None)

    @app.page("/api/remediation/items/{item_id}/actions")
    class ItemActions(faust.web.View):
        async def post(self, request: Any, item_id: str) -> Any:
            return await record(self, request, item_id)
