"""Governance: proposals decided by the committee's quorum and voting rule, members only, the proposer alone
withdraws, a decided proposal takes no more votes, a proposal without a verified effect stays marked."""

from __future__ import annotations

import pytest

from cxstream.domain.locations.governance import (
    Action,
    Committee,
    Evidence,
    Governance,
    Kind,
    Member,
    Refused,
    Register,
    Rule,
    State,
    Vote,
    apply,
    outcome,
)

PEOPLE = (("ann", "operations"), ("bo", "product"), ("cy", "customer-service"), ("di", "logistics"))
MEMBERS = [Member(name=n, role="member", department=d) for n, d in PEOPLE]


def spec(rule: Rule = Rule.MAJORITY, quorum: int = 3) -> Governance:
    return Governance(committees=[Committee(id="board", display="Scaling board", members=MEMBERS, quorum=quorum,
                                            rule=rule, decides=["rollout"])])  # fmt: skip


def act(n: int, kind: Kind, actor: str, **extra: object) -> Action:
    return Action(f"a{n}", "prop-1", kind, actor, n * 1000, **extra)  # type: ignore[arg-type]


def proposed(governance: Governance) -> object:
    evidence = Evidence(("rem-1",), ("late/wave-1",), "CSAT +7")
    first = act(0, Kind.PROPOSE, "ann", committee="board", proposal_kind="rollout", title="Roll out v2",
                evidence=evidence, verified=True)  # fmt: skip
    return apply(None, first, governance)


@pytest.mark.parametrize(
    ("rule", "votes", "expected"),
    [
        (Rule.MAJORITY, ["yes", "yes", "no"], State.APPROVED),
        (Rule.MAJORITY, ["yes", "no", "abstain"], State.REJECTED),  # a tie is not a majority
        (Rule.MAJORITY, ["yes", "no"], State.OPEN),  # below quorum
        (Rule.TWO_THIRDS, ["yes", "yes", "no"], State.APPROVED),
        (Rule.TWO_THIRDS, ["yes", "no", "no"], State.REJECTED),
        (Rule.UNANIMOUS, ["yes", "yes", "abstain"], State.APPROVED),
        (Rule.UNANIMOUS, ["yes", "yes", "no"], State.REJECTED),
    ],
)  # fmt: skip
def test_the_rule_decides_once_the_quorum_voted(rule: Rule, votes: list[str], expected: State) -> None:
    committee = spec(rule).committees[0]
    assert outcome(committee, {m.name: Vote(v) for m, v in zip(MEMBERS, votes, strict=False)}) is expected


def test_votes_members_withdrawal_and_the_trail() -> None:
    governance = spec()
    proposal = proposed(governance)
    with pytest.raises(Refused, match="not a member"):
        apply(proposal, act(1, Kind.VOTE, "zed", vote=Vote.YES), governance)  # type: ignore[arg-type]
    with pytest.raises(Refused, match="only the proposer"):
        apply(proposal, act(1, Kind.WITHDRAW, "bo"), governance)  # type: ignore[arg-type]
    register = Register(governance)
    steps = [act(0, Kind.PROPOSE, "ann", committee="board", proposal_kind="rollout", title="Roll out v2"),
             act(1, Kind.VOTE, "ann", vote=Vote.YES), act(2, Kind.VOTE, "bo", vote=Vote.NO),
             act(3, Kind.VOTE, "bo", vote=Vote.YES),  # a member changes their vote: the latest counts
             act(4, Kind.VOTE, "zed", vote=Vote.NO), act(5, Kind.VOTE, "cy", vote=Vote.NO),
             act(6, Kind.VOTE, "di", vote=Vote.NO)]  # fmt: skip
    refusals = [register.record(a) for a in steps]
    decided = register.proposals["prop-1"]
    assert decided.state is State.APPROVED and decided.decided_ms == 5000  # 2 yes, 1 no at the quorum of three
    assert refusals[4] is not None and "zed" in refusals[4]
    assert refusals[6] is not None and "APPROVED" in refusals[6]  # decided: no more votes
    assert not decided.verified  # nothing in its evidence was verified: it stays marked


def test_a_committee_only_decides_its_kinds_and_its_quorum_is_possible() -> None:
    governance = spec()
    with pytest.raises(Refused, match="does not decide 'playbook_revision'"):
        apply(None, act(0, Kind.PROPOSE, "ann", committee="board", proposal_kind="playbook_revision", title="x"),
              governance)  # fmt: skip
    with pytest.raises(ValueError, match="quorum 5 is more than the 4 members"):
        spec(quorum=5)
