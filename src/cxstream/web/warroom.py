"""The war-room API: open breaches, silences, cases (with filters) and case actions, behind API tokens.

* ``GET /api/me`` - the token's holder, role and scope;
* ``POST /api/session`` - the page trades its token for an HttpOnly cookie (so the token is not in URLs);
* ``GET /api/breaches`` - open breaches (threshold and hot alerts) with their ladder state, answered by the
  worker that runs the routing side;
* ``GET /api/silences`` - active and pending silences (likewise);
* ``GET /api/cases?state=&team=&severity=&open=1`` - cases of every partition: this worker's, and the other
  workers' asked over HTTP (``workers`` says how many answered of how many hold cases);
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

from cxstream.domain.access.principal import masked
from cxstream.domain.alerting.silences import visible_silences
from cxstream.domain.base import now_ms, to_ms
from cxstream.domain.cases.machine import Action, ActionType, CasePolicy, Refused, action_record, apply
from cxstream.domain.remediation.causes import RootCauses
from cxstream.web.auth import COOKIE, Denied, Gate, audit, refuse
from cxstream.web.reads import Reads, Reply, breach_rows, case_row, case_rows

#: Actions people may post (the others are recorded by cxstream itself).
POSTABLE = ("ACKNOWLEDGE", "ASSIGN", "DOCUMENT_ACTION", "FOLLOW_UP", "RESOLVE", "CLOSE", "REOPEN", "COMMENT",
            "CONTAIN", "INVESTIGATE", "CONCLUDE")  # fmt: skip


def served_over_tls(request: Any) -> bool:
    """HTTPS here or at the proxy in front (which says so in X-Forwarded-Proto): the cookie is then Secure."""
    return bool(request.secure) or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def register(
    app: faust.App,
    gate: Gate,
    policy: CasePolicy,
    reads: Reads,
    case_actions_topic: Any,
    partitions: int,
    causes: RootCauses | None = None,
) -> None:

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
            if request.headers.get("Authorization") is None:
                return refuse(self, Denied(401, "a session is made from a token (Authorization: Bearer <token>)"))
            response: Any = self.json(principal.describe())  # aiohttp's Response underneath
            response.set_cookie(COOKIE, gate.session_for(request), httponly=True, samesite="Strict", path="/",
                                max_age=gate.sessions.ttl_ms // 1000, secure=served_over_tls(request))  # fmt: skip
            return response

        async def delete(self, request: Any) -> Any:
            """Log out: the cookie is cleared (a copy kept elsewhere stays valid until it expires)."""
            response: Any = self.json({"signed_out": True})
            response.del_cookie(COOKIE, path="/")
            return response

    def reply(view: Any, answer: Reply) -> Any:
        return view.json(answer.body, status=answer.status)

    @app.page("/api/breaches")
    async def breaches(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        answer = await reads.breaches(request, principal)
        if answer.failure is not None:
            return reply(view, answer.failure)
        severity = request.query.get("severity")
        rows = breach_rows(principal, [b for b in answer.found if not severity or b.severity.value == severity])
        return view.json({"breaches": rows, "n": len(rows)})

    @app.page("/api/silences")
    async def silences(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        if (elsewhere := await reads.desk(request, "/api/silences")) is not None:
            return reply(view, elsewhere)
        shown = visible_silences(principal, reads.desk_state().active_silences(now_ms()))
        return view.json({"silences": shown, "n": len(shown)})

    @app.page("/api/cases")
    async def cases(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        found, workers = await reads.cases(request, principal, request.query)
        rows = case_rows(principal, found)
        return view.json({"cases": rows, "n": len(rows), "workers": workers, "partitions": partitions})

    @app.page("/api/cases/{case_id}")
    async def one_case(view: Any, request: Any, case_id: str) -> Any:
        try:
            principal = gate.principal(request)
            case = reads.held_case(case_id)
            if case is None:  # held by another worker, or by none
                return reply(view, await reads.case_elsewhere(request, case_id, f"/api/cases/{case_id}"))
            gate.scoped(principal, case.labels.get("region"), case.team)
        except Denied as denied:
            return refuse(view, denied)
        return view.json(masked(case_row(case), principal))

    @app.page("/api/cases/{case_id}/actions")
    class CaseActions(faust.web.View):
        async def post(self, request: Any, case_id: str) -> Any:
            try:
                principal = gate.principal(request)
            except Denied as denied:
                return refuse(self, denied)
            raw = await request.read()
            try:
                body = json.loads(raw or b"{}")
                kind = ActionType(str(body.get("action")))
                if kind.value not in POSTABLE:
                    raise ValueError
            except (ValueError, TypeError, AttributeError):
                return self.json({"error": f"action must be one of {', '.join(POSTABLE)}"}, status=400)
            case = reads.held_case(case_id)
            if case is None:  # held by another worker (which checks and records it), or by none
                return reply(self, await reads.case_elsewhere(request, case_id, f"/api/cases/{case_id}/actions", raw))
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
                at_ms=to_ms(now), comment=_text(body, "comment"), assignee=_text(body, "assignee"),
                root_cause_category=_text(body, "root_cause_category"), action_taken=_text(body, "action_taken"),
                action_owner=_text(body, "action_owner"), outcome=_text(body, "outcome"), role=principal.role.value,
                root_cause_code=_text(body, "root_cause_code"), item_id=_text(body, "item_id"),
            )  # fmt: skip
            try:
                after = apply(case, action, policy, causes)
            except Refused as refused:
                return self.json({"error": refused.message, "rule": refused.rule_id}, status=409)
            await case_actions_topic.send(key=case_id.encode(), value=action_record(action))
            audit(principal, kind.value, case_id=case_id, action_id=action.action_id)
            return self.json({"action_id": action.action_id, "case_id": case_id, "state": after.state.value},
                             status=202)  # fmt: skip


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return None if value is None else str(value)
