"""Governance actions as ``cx.governance`` records (schema ``cxstream.GovernanceAction``), and proposals as the API
and the command line show them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from cxstream.domain.base import JsonObject, Record, as_float, as_str, as_time, opt_str, str_list, to_ms
from cxstream.domain.locations.governance import Action, Evidence, Kind, Proposal, Register, Vote


def action_record(action: Action) -> Record:
    e = action.evidence
    return {
        "action_id": action.action_id, "proposal_id": action.proposal_id, "kind": action.kind.value,
        "actor": action.actor, "at": datetime.fromtimestamp(action.at_ms / 1000, UTC), "committee": action.committee,
        "proposal_kind": action.proposal_kind, "title": action.title, "evidence_items": list(e.items),
        "evidence_waves": list(e.waves), "evidence_note": e.note, "cost_weeks": e.cost_weeks,
        "verified": action.verified, "vote": action.vote.value if action.vote else None, "comment": action.comment,
    }  # fmt: skip


def action_from_record(record: Mapping[str, object]) -> Action:
    def text(name: str) -> str | None:
        return opt_str(record.get(name), name)

    cost = record.get("cost_weeks")
    vote = text("vote")
    return Action(
        action_id=as_str(record["action_id"], "action_id"),
        proposal_id=as_str(record["proposal_id"], "proposal_id"),
        kind=Kind(as_str(record["kind"], "kind")),
        actor=as_str(record["actor"], "actor"),
        at_ms=to_ms(as_time(record["at"], "at")),
        committee=text("committee"),
        proposal_kind=text("proposal_kind"),
        title=text("title"),
        evidence=Evidence(
            str_list(record.get("evidence_items") or [], "evidence_items"),
            str_list(record.get("evidence_waves") or [], "evidence_waves"),
            str(record.get("evidence_note") or ""),
            None if cost is None else as_float(cost, "cost_weeks"),
        ),
        verified=bool(record.get("verified")),
        vote=Vote(vote) if vote else None,
        comment=text("comment"),
    )


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def proposal_json(proposal: Proposal, register: Register) -> JsonObject:
    committee = register.spec.committee(proposal.committee)
    votes = dict(proposal.votes)
    return {
        "proposal_id": proposal.proposal_id, "committee": proposal.committee,
        "committee_name": committee.display if committee else proposal.committee, "kind": proposal.kind,
        "title": proposal.title, "proposer": proposal.proposer, "opened_at": _iso(proposal.opened_ms),
        "state": proposal.state.value, "decided_at": _iso(proposal.decided_ms),
        "verified_effect": proposal.verified,
        "evidence": {"items": list(proposal.evidence.items), "waves": list(proposal.evidence.waves),
                     "note": proposal.evidence.note, "cost_weeks": proposal.evidence.cost_weeks},
        "votes": {m: v.value for m, v in votes.items()},
        "quorum": committee.quorum if committee else None, "rule": committee.rule.value if committee else None,
        "members": [{"name": m.name, "role": m.role, "department": m.department} for m in committee.members]
        if committee else [],
        "trail": [{"kind": a.kind.value, "actor": a.actor, "at": _iso(a.at_ms), "vote": a.vote.value if a.vote
                   else None, "comment": a.comment, "refused": refused}
                  for a, refused in register.trails.get(proposal.proposal_id, [])],
    }  # fmt: skip
