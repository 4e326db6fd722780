"""Governance of scaling decisions: committees declared with their members (by role and department), a quorum and
a voting rule; proposals (roll a verified initiative out to more regions, revise a playbook, accept a partner's
suggestion) carry their evidence; members vote; the decision follows from the declared rule once the quorum has
voted. Every step is an action on ``cx.governance`` (the audit trail), folded like the remediation backlog. A
proposal whose evidence holds no verified effect is marked so, and stays marked in the decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from pydantic import Field, model_validator

from cxstream.domain.base import Strict


class Rule(StrEnum):
    MAJORITY = "majority"  # more yes than no among the votes cast (abstentions count for the quorum only)
    TWO_THIRDS = "two_thirds"  # at least two thirds of the votes cast (not abstaining) are yes
    UNANIMOUS = "unanimous"  # no vote against, at least one for


class Member(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9._@-]{1,64}$", description="who votes: the actor name of their token")
    role: str = Field(min_length=2, description="e.g. chair, member")
    department: str = Field(min_length=2, description="e.g. operations, customer-service, product")


class Committee(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    display: str = Field(min_length=3)
    members: list[Member] = Field(min_length=1)
    quorum: int = Field(ge=1, description="votes (yes, no or abstain) needed before a decision")
    rule: Rule = Rule.MAJORITY
    decides: list[str] = Field(min_length=1, description="proposal kinds it decides, e.g. rollout")

    @model_validator(mode="after")
    def _quorum(self) -> Committee:
        if self.quorum > len(self.members):
            raise ValueError(f"quorum {self.quorum} is more than the {len(self.members)} members")
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise ValueError("a member is listed twice")
        return self


KINDS = ("rollout", "playbook_revision", "partner_suggestion")


class Governance(Strict):
    """``governance:`` in the topology."""

    committees: list[Committee] = Field(default_factory=list)

    @model_validator(mode="after")
    def _kinds(self) -> Governance:
        for committee in self.committees:
            for kind in committee.decides:
                if kind not in KINDS:
                    raise ValueError(f"committee {committee.id}: unknown proposal kind {kind!r} ({', '.join(KINDS)})")
        return self

    def committee(self, committee_id: str) -> Committee | None:
        return next((c for c in self.committees if c.id == committee_id), None)


class Vote(StrEnum):
    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


class State(StrEnum):
    OPEN = "OPEN"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"


class Kind(StrEnum):
    PROPOSE = "PROPOSE"
    VOTE = "VOTE"
    COMMENT = "COMMENT"
    WITHDRAW = "WITHDRAW"


class Refused(ValueError):
    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id = rule_id
        self.message = message


@dataclass(frozen=True)
class Evidence:
    """What a proposal rests on: remediation items (their verdicts), playbook waves, variance, cost."""

    items: tuple[str, ...] = ()
    waves: tuple[str, ...] = ()  # "playbook/wave"
    note: str = ""
    cost_weeks: float | None = None


@dataclass(frozen=True)
class Action:
    action_id: str
    proposal_id: str
    kind: Kind
    actor: str
    at_ms: int
    committee: str | None = None  # PROPOSE
    proposal_kind: str | None = None  # PROPOSE: rollout, playbook_revision, partner_suggestion
    title: str | None = None
    evidence: Evidence = field(default_factory=Evidence)
    verified: bool = False  # PROPOSE: the evidence holds a verified effect (checked where the proposal is made)
    vote: Vote | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Proposal:
    proposal_id: str
    committee: str
    kind: str
    title: str
    proposer: str
    opened_ms: int
    evidence: Evidence
    verified: bool
    state: State = State.OPEN
    votes: Mapping[str, Vote] = field(default_factory=dict)  # member -> latest vote
    decided_ms: int | None = None
    applied: tuple[str, ...] = ()


def outcome(committee: Committee, votes: Mapping[str, Vote]) -> State:
    """OPEN until the quorum has voted; then the rule decides."""
    if len(votes) < committee.quorum:
        return State.OPEN
    yes = sum(v is Vote.YES for v in votes.values())
    no = sum(v is Vote.NO for v in votes.values())
    if committee.rule is Rule.UNANIMOUS:
        passed = no == 0 and yes > 0
    elif committee.rule is Rule.TWO_THIRDS:
        passed = yes + no > 0 and 3 * yes >= 2 * (yes + no)
    else:
        passed = yes > no
    return State.APPROVED if passed else State.REJECTED


def apply(proposal: Proposal | None, action: Action, spec: Governance) -> Proposal:
    if proposal is not None and action.action_id in proposal.applied:
        return proposal
    if proposal is None:
        if action.kind is not Kind.PROPOSE:
            raise Refused("proposal.unknown", f"no proposal {action.proposal_id}")
        committee = spec.committee(action.committee or "")
        if committee is None:
            raise Refused("proposal.committee", f"no committee {action.committee!r}")
        if action.proposal_kind not in committee.decides:
            raise Refused("proposal.kind", f"{committee.display} does not decide {action.proposal_kind!r} "
                                           f"({', '.join(committee.decides)})")  # fmt: skip
        if not (action.title or "").strip():
            raise Refused("proposal.title", "a title is required")
        return Proposal(action.proposal_id, committee.id, str(action.proposal_kind), str(action.title).strip(),
                        action.actor, action.at_ms, action.evidence, action.verified,
                        applied=(action.action_id,))  # fmt: skip
    committee = spec.committee(proposal.committee)
    assert committee is not None
    if action.kind is Kind.COMMENT:
        if not (action.comment or "").strip():
            raise Refused("proposal.comment", "the comment is required")
        return replace(proposal, applied=(*proposal.applied, action.action_id))
    if proposal.state is not State.OPEN:
        raise Refused("proposal.closed", f"the proposal is {proposal.state.value}")
    if action.kind is Kind.WITHDRAW:
        if action.actor != proposal.proposer:
            raise Refused("proposal.withdraw", "only the proposer withdraws a proposal")
        return replace(proposal, state=State.WITHDRAWN, decided_ms=action.at_ms,
                       applied=(*proposal.applied, action.action_id))  # fmt: skip
    if action.kind is not Kind.VOTE or action.vote is None:
        raise Refused("proposal.action", "a proposal takes votes, comments or its withdrawal")
    if action.actor not in {m.name for m in committee.members}:
        raise Refused("proposal.member", f"{action.actor} is not a member of {committee.display}")
    votes = {**proposal.votes, action.actor: action.vote}
    state = outcome(committee, votes)
    return replace(proposal, votes=votes, state=state, decided_ms=action.at_ms if state is not State.OPEN else None,
                   applied=(*proposal.applied, action.action_id))  # fmt: skip


@dataclass
class Register:
    """Every proposal, folded from ``cx.governance`` in order, with its trail (refused actions marked)."""

    spec: Governance
    proposals: dict[str, Proposal] = field(default_factory=dict)
    trails: dict[str, list[tuple[Action, str | None]]] = field(default_factory=dict)

    def record(self, action: Action) -> str | None:
        before = self.proposals.get(action.proposal_id)
        if before is not None and action.action_id in before.applied:
            return None
        try:
            self.proposals[action.proposal_id] = apply(before, action, self.spec)
            refused = None
        except Refused as exc:
            refused = f"{exc.rule_id}: {exc.message}"
        self.trails.setdefault(action.proposal_id, []).append((action, refused))
        return refused


def verified_items(items: Sequence[str], states: Mapping[str, str]) -> bool:
    """Whether the evidence names a remediation item with a verified effect."""
    return any(states.get(i) == "VERIFIED" for i in items)
