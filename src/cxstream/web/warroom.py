"""The war-room API: open breaches, silences, cases (with filters) and case actions, behind API tokens.

* ``GET /api/me`` - the token's holder, role and scope;
* ``POST /api/session`` - the page trades its token for an HttpOnly cookie (so the token is not in URLs);
* ``GET /api/breaches`` - open breaches (threshold and hot alerts) with their ladder state;
* ``GET /api/silences`` - active and pending silences;
* ``GET /api/cases?state=&team=&severity=&open=1`` - cases held by this worker's partitions (``partitions``
  says how many of how many);
* ``GET /api/cases/{case_id}`` - one case, from the worker that holds it;
* ``POST /api/cases/{case_id}/actions`` - record an action (checked by the state machine and the caller's
  role and teams first; ``202`` with the action id, ``409`` with the refusing rule).

Records outside the token's regions and teams are left out of lists and refused (``403``) one by one;
customer ids and customers' words are masked for roles without personal-data permission.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import faust

from cxstream.domain.access import Principal, masked
from cxstream.domain.cases import (
    DONE,
    Action,
    ActionType,
    CasePolicy,
    Refused,
    action_record,
    apply,
    case_from_json,
    case_record,
)
from cxstream.domain.escalation import case_id_for
from cxstream.web.auth import COOKIE, Denied, Gate, audit, refuse

#: Actions people may post (the others are recorded by cxstream itself).
POSTABLE = ("ACKNOWLEDGE", "ASSIGN", "DOCUMENT_ACTION", "FOLLOW_UP", "RESOLVE", "CLOSE", "REOPEN", "COMMENT")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def case_json(case: Any) -> dict[str, Any]:
    return {k: _iso(v) for k, v in case_record(case).items()}


def breach_rows(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Open breaches from the routing desk's saved state."""
    ladders: dict[str, int] = {}
    for key, step in (state.get("ladders") or {}).items():
        breach_id = key.split("|", 1)[1]
        ladders[breach_id] = max(ladders.get(breach_id, 0), int(step["level"]))
    acked = state.get("acked") or {}
    summaries = state.get("summaries") or {}
    rows = []
    for breach_id, labels in sorted((state.get("alerts") or {}).items()):
        rows.append({
            "breach_id": breach_id, "case_id": case_id_for(breach_id), "kind": labels.get("kind", "THRESHOLD"),
            "rule": labels.get("rule"), "severity": labels.get("severity", "WARNING"), "team": labels.get("owner"),
            "region": labels.get("region"), "summary": summaries.get(breach_id, ""),
            "labels": {k: v for k, v in labels.items() if k != "breach_id"},
            "acknowledged_by": (acked.get(breach_id) or {}).get("by"), "ladder_level": ladders.get(breach_id, 0),
        })  # fmt: skip
    order = {"CRITICAL": 0, "WARNING": 1, "INFO": 2}
    return sorted(rows, key=lambda r: (order.get(r["severity"], 3), r["breach_id"]))


def register(
    app: faust.App,
    gate: Gate,
    policy: CasePolicy,
    cases_table: Any,
    desk_state: Any,
    case_actions_topic: Any,
    partitions: int,
) -> None:
    def visible(principal: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [masked(r, principal) for r in rows if principal.in_scope(r.get("region"), r.get("team"))]

    @app.page("/api/me")
    async def me(view: Any, request: Any) -> Any:
        try:
            return view.json(gate.principal(request).describe())
        except Denied as denied:
            return refuse(view, denied)

    @app.page("/api/session")
    class Session(faust.web.View):
        async def post(self, request: Any) -> Any:
            try:
                principal = gate.principal(request)
            except Denied as denied:
                return refuse(self, denied)
            response: Any = self.json(principal.describe())  # aiohttp's Response underneath
            token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            return response

    @app.page("/api/breaches")
    async def breaches(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        rows = visible(principal, breach_rows(desk_state() or {}))
        severity = request.query.get("severity")
        rows = [r for r in rows if not severity or r["severity"] == severity]
        return view.json({"breaches": rows, "n": len(rows)})

    @app.page("/api/silences")
    async def silences(view: Any, request: Any) -> Any:
        try:
            gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        found = [s for s in ((desk_state() or {}).get("silences") or {}).values() if s["ends_ms"] > now_ms]
        return view.json({"silences": sorted(found, key=lambda s: s["ends_ms"]), "n": len(found)})

    @app.page("/api/cases")
    async def cases(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        query = request.query
        rows = []
        for saved in list(cases_table.values()):
            if saved is None:
                continue
            case = case_from_json(saved)
            if query.get("open") in ("1", "true") and case.state in DONE:
                continue
            if any(query.get(k) and query[k] != v for k, v in
                   (("state", case.state.value), ("team", case.team), ("severity", case.severity))):  # fmt: skip
                continue
            row = case_json(case)
            row["region"] = case.labels.get("region")
            rows.append(row)
        rows = sorted(visible(principal, rows), key=lambda r: r["opened_at"])
        held = len({v.get("_partition") for v in cases_table.values() if v is not None})
        return view.json({"cases": rows, "n": len(rows), "partitions": {"with_cases": held, "total": partitions}})

    def load(case_id: str) -> Any:
        saved = cases_table.get(case_id)
        return None if saved is None else case_from_json(saved)

    @app.page("/api/cases/{case_id}")
    @app.table_route(table=cases_table, match_info="case_id")
    async def one_case(view: Any, request: Any, case_id: str) -> Any:
        try:
            principal = gate.principal(request)
            case = load(case_id)
            if case is None:
                return view.json({"error": f"no case {case_id}"}, status=404)
            gate.scoped(principal, case.labels.get("region"), case.team)
        except Denied as denied:
            return refuse(view, denied)
        return view.json(masked({**case_json(case), "region": case.labels.get("region")}, principal))

    @app.page("/api/cases/{case_id}/actions")
    class CaseActions(faust.web.View):
        async def post(self, request: Any, case_id: str) -> Any:
            try:
                principal = gate.principal(request)
            except Denied as denied:
                return refuse(self, denied)
            try:
                body = json.loads(await request.read() or b"{}")
                kind = ActionType(str(body.get("action")))
                if kind.value not in POSTABLE:
                    raise ValueError
            except (ValueError, TypeError, AttributeError):
                return self.json({"error": f"action must be one of {', '.join(POSTABLE)}"}, status=400)
            case = load(case_id)
            if case is None:
                return self.json({"error": f"no case {case_id} on this worker"}, status=404)
            try:
                gate.scoped(principal, case.labels.get("region"), case.team)
                if not principal.may_act_on_case(case.team):
                    raise Denied(403, f"{principal.name} ({principal.role.value}) may not act on {case.team}'s cases")
            except Denied as denied:
                return refuse(self, denied)
            now = datetime.now(UTC)
            digest = hashlib.sha256(f"{case_id}|{kind.value}|{principal.name}|{now.isoformat()}".encode()).hexdigest()
            action = Action(
                action_id=f"act-{digest[:16]}", case_id=case_id, action=kind, actor=principal.name,
                at_ms=int(now.timestamp() * 1000), comment=_text(body, "comment"), assignee=_text(body, "assignee"),
                root_cause_category=_text(body, "root_cause_category"), action_taken=_text(body, "action_taken"),
                action_owner=_text(body, "action_owner"), outcome=_text(body, "outcome"), role=principal.role.value,
            )  # fmt: skip
            try:
                after = apply(case, action, policy)
            except Refused as refused:
                return self.json({"error": refused.message, "rule": refused.rule_id}, status=409)
            await case_actions_topic.send(key=case_id.encode(), value=action_record(action))
            audit(principal, kind.value, case_id=case_id, action_id=action.action_id)
            return self.json({"action_id": action.action_id, "case_id": case_id, "state": after.state.value},
                             status=202)  # fmt: skip


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return None if value is None else str(value)
