"""Governance over HTTP: every worker folds ``cx.governance`` into the register of proposals.

* ``GET /api/governance`` - the proposals with their state, votes and whether they rest on a verified effect;
* ``GET /api/governance/{id}`` - one proposal with its evidence, votes, decision and audit trail;
* ``POST /api/governance`` - propose (``committee``, ``kind``, ``title``, ``items``, ``waves``, ``note``,
  ``cost_weeks``); ``verified`` is set here from the remediation backlog, not taken from the caller;
* ``POST /api/governance/{id}/actions`` - ``{"action": "VOTE", "vote": "yes"}``, ``COMMENT``, ``WITHDRAW``: the
  token's holder is the actor (a vote counts only from a committee member).

Viewers read; analysts, supervisors and admins act. Every write is audited.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import faust

from cxstream.agents.history import TopicFeed
from cxstream.agents.remediation_feed import RemediationFeed
from cxstream.domain.access.principal import Role
from cxstream.domain.catalog import Topics
from cxstream.domain.locations.governance import Action, Evidence, Governance, Kind, Refused, Register, Vote, apply
from cxstream.domain.locations.governance_records import action_from_record, action_record, proposal_json
from cxstream.observability.logging import get_logger
from cxstream.serde.avro import AvroCodec, DecodeError
from cxstream.web.auth import Denied, Gate, audit, refuse

log = get_logger(__name__)


class GovernanceFeed(TopicFeed):
    topic = Topics.GOVERNANCE

    def __init__(self, client_options: dict[str, Any], codec: AvroCodec, spec: Governance) -> None:
        super().__init__(client_options)
        self.codec = codec
        self.register = Register(spec)
        self.seen: set[str] = set()

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            action = action_from_record(self.codec.decode(value))
        except (DecodeError, ValueError, KeyError) as exc:
            log.warning("governance_record_undecodable", error=str(exc)[:200])
            return
        if action.action_id not in self.seen:
            self.seen.add(action.action_id)
            self.register.record(action)


def _strings(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of strings")
    return tuple(value)


def register(app: faust.App, gate: Gate, feed: GovernanceFeed, topic: Any, backlog: RemediationFeed | None) -> None:
    @app.page("/api/governance")
    class Proposals(faust.web.View):
        async def get(self, request: Any) -> Any:
            try:
                gate.principal(request)
            except Denied as denied:
                return refuse(self, denied)
            ordered = sorted(feed.register.proposals.values(), key=lambda p: p.opened_ms)
            return self.json({"proposals": [proposal_json(p, feed.register) for p in ordered]})

        async def post(self, request: Any) -> Any:
            return await record(self, request, None)

    @app.page("/api/governance/{proposal_id}")
    async def one(view: Any, request: Any, proposal_id: str) -> Any:
        try:
            gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        found = feed.register.proposals.get(proposal_id)
        if found is None:
            return view.json({"error": f"no proposal {proposal_id}"}, status=404)
        return view.json(proposal_json(found, feed.register))

    @app.page("/api/governance/{proposal_id}/actions")
    class Actions(faust.web.View):
        async def post(self, request: Any, proposal_id: str) -> Any:
            return await record(self, request, proposal_id)

    async def record(view: Any, request: Any, proposal_id: str | None) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        if principal.role is Role.VIEWER:
            return view.json({"error": f"{principal.name} (viewer) may not act on proposals"}, status=403)
        now = datetime.now(UTC)
        try:
            body = json.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            kind = Kind.PROPOSE if proposal_id is None else Kind(str(body.get("action")))
            if kind is Kind.PROPOSE and proposal_id is not None:
                raise ValueError("propose with POST /api/governance")
            items, waves = _strings(body.get("items"), "items"), _strings(body.get("waves"), "waves")
            cost = body.get("cost_weeks")
            if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0):
                raise ValueError("cost_weeks must be a number of weeks")
            vote = Vote(str(body.get("vote"))) if kind is Kind.VOTE else None
        except (ValueError, TypeError) as exc:
            return view.json({"error": str(exc)}, status=400)
        seed = f"{body.get('title')}|{principal.name}|{now.isoformat()}"
        target = proposal_id or f"prop-{hashlib.sha256(seed.encode()).hexdigest()[:20]}"
        states = {i.item_id: i.state.value for i in backlog.backlog.items.values()} if backlog is not None else {}
        verified = kind is Kind.PROPOSE and any(states.get(i) == "VERIFIED" for i in items)
        action = Action(
            action_id=f"gov-{hashlib.sha256(f'{target}|{kind}|{principal.name}|{now.isoformat()}'.encode()).hexdigest()[:16]}",
            proposal_id=target, kind=kind, actor=principal.name, at_ms=int(now.timestamp() * 1000),
            committee=None if body.get("committee") is None else str(body.get("committee")),
            proposal_kind=None if body.get("kind") is None else str(body.get("kind")),
            title=None if body.get("title") is None else str(body.get("title")),
            evidence=Evidence(items, waves, str(body.get("note") or ""), None if cost is None else float(cost)),
            verified=verified, vote=vote, comment=None if body.get("comment") is None else str(body.get("comment")),
        )  # fmt: skip
        before = feed.register.proposals.get(target)
        if proposal_id is not None and before is None:
            return view.json({"error": f"no proposal {proposal_id}"}, status=404)
        try:
            after = apply(before, action, feed.register.spec)
        except Refused as refused:
            return view.json({"error": refused.message, "rule": refused.rule_id}, status=409)
        await topic.send(key=target.encode(), value=action_record(action))
        audit(principal, f"governance.{kind.value}", proposal_id=target, action_id=action.action_id)
        return view.json({"proposal_id": target, "action_id": action.action_id, "state": after.state.value,
                          "verified_effect": after.verified}, status=202)  # fmt: skip
