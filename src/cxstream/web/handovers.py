"""Shift handovers over HTTP, from every worker's :class:`~cxstream.agents.handovers.HandoverFeed`.

* ``GET /api/handovers?team=&limit=`` - the latest handovers (newest first) of the token's teams, and the teams
  with declared shifts;
* ``GET /api/handovers/{handover_id}`` - one handover;
* ``POST /api/handovers/{handover_id}/ack`` - ``{"note": "..."}``: the incoming supervisor acknowledges it (a
  supervisor of the team or an admin); published on ``cx.handover-acks`` and audited. ``409`` when it is
  acknowledged already.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import faust

from cxstream.agents.handovers import HandoverFeed
from cxstream.domain.access.principal import MASK, Principal, Role
from cxstream.domain.base import JsonObject, now_ms
from cxstream.domain.handovers.records import Handover, HandoverAck
from cxstream.domain.handovers.views import handover_json
from cxstream.web.auth import Denied, Gate, audit, refuse

NOTE_MAX = 2000


def shown(handover: Handover, principal: Principal, now: int) -> JsonObject:
    """The handover as the principal may see it: a hot alert's summary quotes the customer, so it is masked (in the
    breach and in what to pick up) for roles without personal-data permission."""
    if principal.sees_pii:
        return handover_json(handover, now)
    quoted = [b.summary for b in handover.breaches if b.kind == "HOT_ALERT"]
    lines = []
    for line in handover.pick_up:
        for text in quoted:
            line = line.replace(text, MASK)
        lines.append(line)
    breaches = tuple(replace(b, summary=MASK) if b.kind == "HOT_ALERT" else b for b in handover.breaches)
    return handover_json(replace(handover, breaches=breaches, pick_up=tuple(lines)), now)


def _reads(principal: Principal, team: str) -> bool:
    """A team's handovers are read as its cases are: the principal's team scope (admins read every team)."""
    return principal.in_scope(None, team)


def _sees(principal: Principal, handover: Handover) -> bool:
    return _reads(principal, handover.team)


def register(app: faust.App, gate: Gate, feed: HandoverFeed, acks_topic: Any, teams: list[str]) -> None:
    @app.page("/api/handovers")
    async def handovers(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        team = request.query.get("team") or None
        try:
            limit = int(request.query.get("limit", "20"))
            if not 1 <= limit <= 200:
                raise ValueError
        except ValueError:
            return view.json({"error": "limit is a whole number from 1 to 200"}, status=400)
        now = now_ms()
        chosen = [h for h in feed.book.latest(team, 1000) if _sees(principal, h)][:limit]
        readable = [t for t in teams if _reads(principal, t)]
        return view.json({"handovers": [shown(h, principal, now) for h in chosen], "n": len(chosen),
                          "ready": feed.ready, "teams": readable})  # fmt: skip

    @app.page("/api/handovers/{handover_id}")
    async def one(view: Any, request: Any, handover_id: str) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        found = feed.book.view(handover_id)
        if found is None:
            return view.json({"error": f"no handover {handover_id}"}, status=404)
        if not _sees(principal, found):
            return view.json({"error": f"{principal.name} does not see {found.team}'s handovers"}, status=403)
        return view.json(shown(found, principal, now_ms()))

    @app.page("/api/handovers/{handover_id}/ack")
    class Acknowledge(faust.web.View):
        async def post(self, request: Any, handover_id: str) -> Any:
            try:
                principal = gate.principal(request)
            except Denied as denied:
                return refuse(self, denied)
            found = feed.book.view(handover_id)
            if found is None:
                return self.json({"error": f"no handover {handover_id}"}, status=404)
            if principal.role not in (Role.SUPERVISOR, Role.ADMIN) or not _sees(principal, found):
                return self.json({"error": f"{principal.name} ({principal.role.value}) may not acknowledge "
                                           f"{found.team}'s handover: a supervisor of the team or an admin"},
                                 status=403)  # fmt: skip
            if found.acknowledged_by is not None:
                return self.json({"error": f"acknowledged already by {found.acknowledged_by}"}, status=409)
            try:
                body = json.loads(await request.read() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                note = body.get("note")
                if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX):
                    raise ValueError(f"note is text of at most {NOTE_MAX} characters")
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            ack = HandoverAck(handover_id, principal.name, now_ms(), principal.role.value, note or None)
            await acks_topic.send(key=handover_id.encode(), value=ack.record())
            feed.book.acknowledge(ack)  # this worker shows it at once; the routing side republishes the handover
            audit(principal, "handover.acknowledge", handover_id=handover_id, team=found.team)
            return self.json({"handover_id": handover_id, "acknowledged_by": ack.actor, "state": "acknowledged"},
                             status=202)  # fmt: skip
