"""The case state machine: the documented path, refusals with their rule ids, and properties over any
sequence of actions (no invalid state is reachable; a resolved or closed case always has its documentation)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.domain.cases.machine import (
    DONE,
    REMEMBERED_ACTIONS,
    TRANSITIONS,
    Action,
    ActionType,
    Case,
    CasePolicy,
    CaseState,
    Refused,
    Sla,
    action_from_record,
    apply,
    due_steps,
    overdue_actions,
)

POLICY = CasePolicy(
    sla={"CRITICAL": Sla(acknowledge="15m", resolve="1d"), "WARNING": Sla(acknowledge="2h", resolve="3d")},
    follow_up_within="48h",
)
M, H = 60_000, 3_600_000
_counter = iter(range(10**9))


def act(kind: ActionType, at: int = 0, **kw: object) -> Action:
    return Action(f"act-{next(_counter)}", "case-1", kind, str(kw.pop("actor", "j.devries")), at, **kw)  # type: ignore[arg-type]


def opened(severity: str = "CRITICAL", follow_up: bool = False) -> Case:
    return apply(
        None,
        act(ActionType.OPEN, actor="system:routing", team="logistics", severity=severity, breach_id="br-1",
            escalation_id="esc-1", labels={"region": "emea"}, follow_up=follow_up),
        POLICY,
    )  # fmt: skip


def flagged(case: Case) -> Case:
    return apply(case, act(ActionType.FLAG_RECURRING, actor="system:recurrence", comment="customer again"), POLICY)


def run(case: Case, *actions: Action) -> Case:
    for action in actions:
        case = apply(case, action, POLICY)
    return case


DOCUMENT = {"action_taken": "Second carrier for the backlog", "action_owner": "logistics-ops-lead"}


def test_the_documented_path_from_open_to_closed() -> None:
    case = opened()
    assert (case.state, case.acknowledge_due_ms, case.resolve_due_ms) == (CaseState.OPEN, 15 * M, 24 * H)
    case = run(
        case,
        act(ActionType.ACKNOWLEDGE, 5 * M, assignee="j.devries"),
        act(ActionType.DOCUMENT_ACTION, H, **DOCUMENT),
        act(ActionType.RESOLVE, 2 * H, root_cause_category="process:staffing"),
        act(ActionType.CLOSE, 3 * H),
    )
    assert case.state is CaseState.CLOSED and case.documented and case.version == 5
    assert (case.acknowledged_ms, case.resolved_ms, case.closed_ms) == (5 * M, 2 * H, 3 * H)


@pytest.mark.parametrize(
    ("actions", "rule"),
    [
        ([act(ActionType.RESOLVE, root_cause_category="x", **DOCUMENT)], "case.transition"),  # not acknowledged
        ([act(ActionType.ACKNOWLEDGE), act(ActionType.DOCUMENT_ACTION, action_taken="x")], "case.action_owner"),
        (
            [act(ActionType.ACKNOWLEDGE), act(ActionType.DOCUMENT_ACTION, **DOCUMENT), act(ActionType.RESOLVE)],
            "case.root_cause",
        ),
        ([act(ActionType.CLOSE)], "case.transition"),
        ([act(ActionType.REOPEN, comment="again")], "case.transition"),
        ([act(ActionType.COMMENT)], "case.comment"),
        ([act(ActionType.FOLLOW_UP, outcome="reached")], "case.follow_up"),  # no call-back step here
        ([act(ActionType.OVERDUE, comment="acknowledge")], "case.overdue"),  # people do not record overdue
    ],
)
def test_refusals_name_their_rule(actions: list[Action], rule: str) -> None:
    case = opened()
    *before, last = actions
    case = run(case, *before)
    with pytest.raises(Refused) as refused:
        apply(case, last, POLICY)
    assert refused.value.rule_id == rule


def test_an_unknown_case_and_a_second_escalation() -> None:
    with pytest.raises(Refused, match=r"case\.unknown"):
        apply(None, act(ActionType.ACKNOWLEDGE), POLICY)
    case = apply(opened(), act(ActionType.OPEN, team="logistics", escalation_id="esc-2"), POLICY)
    assert case.escalation_ids == ("esc-1", "esc-2") and case.state is CaseState.OPEN


def test_a_recurring_case_closes_only_with_a_supervisors_documented_action() -> None:
    case = run(
        flagged(opened()),
        act(ActionType.ACKNOWLEDGE),
        act(ActionType.DOCUMENT_ACTION, **DOCUMENT),
        act(ActionType.RESOLVE, root_cause_category="carrier:capacity"),
    )
    with pytest.raises(Refused, match=r"case\.recurring"):
        apply(case, act(ActionType.CLOSE), POLICY)
    with pytest.raises(Refused, match=r"case\.recurring"):
        apply(case, act(ActionType.CLOSE, role="supervisor"), POLICY)  # no documented action
    closed = apply(case, act(ActionType.CLOSE, role="supervisor", comment="Carrier contract reviewed"), POLICY)
    assert closed.state is CaseState.CLOSED


def test_a_hot_alert_case_needs_its_call_back_outcome_before_it_resolves() -> None:
    case = run(opened(follow_up=True), act(ActionType.ACKNOWLEDGE), act(ActionType.DOCUMENT_ACTION, **DOCUMENT))
    assert case.follow_up_due_ms == 48 * H
    with pytest.raises(Refused, match=r"case\.follow_up"):
        apply(case, act(ActionType.RESOLVE, root_cause_category="delivery:late"), POLICY)
    case = run(case, act(ActionType.FOLLOW_UP, outcome="reached"), act(ActionType.RESOLVE, root_cause_category="x"))
    assert case.state is CaseState.RESOLVED and case.follow_up_outcome == "reached"


def test_sla_steps_fall_due_once_and_a_reopen_restarts_the_clock() -> None:
    case = opened(follow_up=True)
    assert due_steps(case, 15 * M - 1) == [] and due_steps(case, 15 * M) == ["acknowledge"]
    case = apply(case, act(ActionType.OVERDUE, 15 * M, actor="timer:sla", comment="acknowledge"), POLICY)
    assert due_steps(case, 20 * M) == []  # recorded: not again
    assert due_steps(case, 48 * H) == ["resolve", "follow_up"]
    case = run(
        case,
        act(ActionType.ACKNOWLEDGE, H),
        act(ActionType.DOCUMENT_ACTION, H, **DOCUMENT),
        act(ActionType.FOLLOW_UP, H, outcome="no_answer"),
        act(ActionType.RESOLVE, H, root_cause_category="x"),
        act(ActionType.REOPEN, 2 * H, comment="customer called again"),
    )
    assert case.state is CaseState.REOPENED and not case.documented and case.overdue == ()
    assert case.acknowledge_due_ms == 2 * H + 15 * M


def test_an_action_replayed_after_a_crash_is_applied_once() -> None:
    ack = act(ActionType.ACKNOWLEDGE, M)
    case = run(opened(), ack)
    assert apply(case, ack, POLICY) == case


TEXT = st.sampled_from([None, "", "  ", "carrier", "j.devries", "reached", "process:staffing", "done"])


def draw_action(data: st.DataObject, state: CaseState) -> Action:
    """Any action; half of the time one whose kind the current state allows (so that long paths are
    explored, not only refusals), with fields that may be missing, blank or present."""
    plausible = [k for k, (allowed, _) in TRANSITIONS.items() if state in allowed]
    kinds = plausible if plausible and data.draw(st.booleans()) else [k for k in ActionType if k is not ActionType.OPEN]
    kind = data.draw(st.sampled_from(kinds))
    text = [data.draw(TEXT) for _ in range(6)]
    role = data.draw(st.sampled_from([None, "supervisor", "viewer"]))
    actor = "timer:sla" if data.draw(st.booleans()) else "someone"
    at = data.draw(st.integers(0, 10 * 24 * H))
    item = data.draw(st.sampled_from([None, "", "rem-1"]))
    return Action(f"act-{next(_counter)}", "case-1", kind, actor, at, *text, role, item_id=item)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), recurring=st.booleans(), follow_up=st.booleans(), steps=st.integers(0, 40))
def test_no_sequence_of_actions_reaches_an_invalid_case(
    data: st.DataObject, recurring: bool, follow_up: bool, steps: int
) -> None:
    case = opened(follow_up=follow_up)
    case = flagged(case) if recurring else case
    applied = 2 if recurring else 1
    accepted: list[Action] = []
    for _ in range(steps):
        action = draw_action(data, case.state)
        try:
            after = apply(case, action, POLICY)
        except Refused:
            continue
        applied += 1
        accepted.append(action)
        if action.action is ActionType.CLOSE and case.recurring:
            assert action.role == "supervisor" and (action.comment or "").strip()
        case = after
        assert isinstance(case.state, CaseState)
        if case.state in DONE:  # a resolved case has its documentation, or is contained with an investigation
            assert (case.documented or case.contained_and_investigating) and case.resolved_ms is not None
            assert case.follow_up_due_ms is None or case.follow_up_outcome
        if case.state is CaseState.CLOSED:
            assert case.closed_ms is not None
        acknowledged = case.state in {CaseState.ACKNOWLEDGED, CaseState.ACTION_DOCUMENTED} | DONE
        assert (case.acknowledged_ms is not None) == acknowledged
        if case.state is CaseState.ACTION_DOCUMENTED:
            assert case.action_taken and case.action_owner
    assert case.version == applied
    for action in accepted[-REMEMBERED_ACTIONS:]:  # any accepted action again changes nothing
        assert apply(case, action, POLICY) == case


def test_actions_and_cases_fit_their_schemas_and_survive_json() -> None:
    from cxstream.app import load_context
    from cxstream.domain.cases.machine import action_record, case_from_json, case_record, case_to_json
    from cxstream.settings import Settings

    ctx = load_context(Settings())
    actions, cases = ctx.codec("cx.case-actions"), ctx.codec("cx.cases")
    opening = act(ActionType.OPEN, 1_795_790_000_000, actor="system:routing", team="logistics", severity="CRITICAL",
                  breach_id="br-1", escalation_id="esc-1", labels={"region": "emea"}, follow_up=True)  # fmt: skip
    assert action_from_record(actions.decode(actions.encode(action_record(opening)))) == opening
    case = run(apply(None, opening, POLICY), act(ActionType.ACKNOWLEDGE, 1_795_790_060_000, assignee="j.devries"))
    assert case_from_json(case_to_json(case)) == case
    decoded = cases.decode(cases.encode(case_record(case)))
    assert (decoded["state"], decoded["team"], decoded["version"]) == ("ACKNOWLEDGED", "logistics", 2)
    assert decoded["acknowledge_due_at"].timestamp() * 1000 == 1_795_790_000_000 + 15 * M


def test_every_escalated_breach_opens_its_case_once_and_later_escalations_join_it() -> None:
    from cxstream.domain.cases.machine import action_record
    from tests.unit.test_escalation import CTX, breach, desk, hot

    actions = CTX.codec("cx.case-actions")

    d = desk()
    d.on_breach(breach("FIRING", "CRITICAL"), 0)
    [opening] = d.tick(0).case_actions
    assert (opening.action, opening.case_id, opening.team) == (ActionType.OPEN, "case-1", "logistics")
    assert opening.follow_up is False and opening.severity == "CRITICAL"
    assert action_from_record(actions.decode(actions.encode(action_record(opening)))) == opening
    case = apply(None, opening, POLICY)
    d.on_hot(hot(at_ms=M), M)
    [hot_open] = d.tick(M).case_actions
    assert hot_open.follow_up is True and hot_open.team == "cx-operations"
    assert case.state is CaseState.OPEN


def test_the_sla_timer_records_each_step_once_dated_when_it_fell_due() -> None:
    case = opened(follow_up=True)
    assert overdue_actions(case, 15 * M - 1) == []
    [late] = overdue_actions(case, 16 * M)
    assert (late.action, late.actor, late.comment, late.at_ms) == (
        ActionType.OVERDUE,
        "timer:sla",
        "acknowledge",
        15 * M,
    )
    assert (late.team, late.severity, late.breach_id) == ("logistics", "CRITICAL", "br-1")
    assert overdue_actions(case, 16 * M)[0].action_id == late.action_id  # a repeated check: the same action
    case = apply(case, late, POLICY)
    assert case.overdue == ("acknowledge",) and overdue_actions(case, 20 * M) == []
    assert [a.comment for a in overdue_actions(case, 48 * H)] == ["resolve", "follow_up"]


@pytest.mark.parametrize("kind", [ActionType.OVERDUE, ActionType.ESCALATE, ActionType.FLAG_RECURRING])
def test_only_cxstream_records_its_own_actions(kind: ActionType) -> None:
    with pytest.raises(Refused, match=rf"case\.{kind.value.lower()}"):
        apply(opened(), act(kind, comment="acknowledge", labels={"level": "1"}), POLICY)


def test_escalations_raise_the_cases_ladder_level_and_never_lower_it() -> None:
    case = opened()
    for level in ("2", "1"):
        case = apply(case, act(ActionType.ESCALATE, actor="system:routing", labels={"level": level}), POLICY)
    assert case.ladder_level == 2 and case.state is CaseState.OPEN


def test_what_else_hears_of_a_case_change() -> None:
    from cxstream.domain.cases.recurrence import effects, subject_messages

    new = opened()
    assert effects(None, new).tell_contacts and effects(None, new).subjects == tuple(subject_messages(new))
    taken = run(new, act(ActionType.ACKNOWLEDGE, 60_000, assignee="j.devries"))
    assert (
        not effects(new, taken).tell_contacts and effects(new, taken).subjects == ()
    )  # still open: nobody else to tell
    done = run(
        taken,
        act(ActionType.DOCUMENT_ACTION, 90_000, **DOCUMENT),
        act(ActionType.RESOLVE, 120_000, root_cause_category="process:staffing"),
    )
    assert done.state is CaseState.RESOLVED and effects(taken, done).tell_contacts  # ended: invites may resume


DEPTH = CasePolicy(
    sla={"CRITICAL": Sla(acknowledge="15m", contain="1h", resolve="1d", investigate="14d"),
         "WARNING": Sla(acknowledge="2h", resolve="3d")},
)  # fmt: skip


def test_a_case_is_contained_fast_and_investigated_on_its_own_clock() -> None:
    case = apply(None, act(ActionType.OPEN, 0, actor="system:routing", team="logistics", severity="CRITICAL",
                           breach_id="br-1"), DEPTH)  # fmt: skip
    assert case.contain_due_ms == H and due_steps(case, H) == ["acknowledge", "contain"]
    case = apply(case, act(ActionType.ACKNOWLEDGE, 5 * M), DEPTH)
    case = apply(case, act(ActionType.CONTAIN, 20 * M, action_taken="Re-sent the parcel by courier, refund of "
                                                                   "the shipping fee"), DEPTH)  # fmt: skip
    assert case.contained_ms == 20 * M and case.containment.startswith("Re-sent")  # type: ignore[union-attr]
    assert due_steps(case, 2 * H) == []  # contained in time
    case = apply(case, act(ActionType.INVESTIGATE, 30 * M, item_id="rem-7f3a"), DEPTH)
    assert case.investigation_item == "rem-7f3a" and case.investigation_due_ms == 30 * M + 14 * 24 * H
    # resolved the same hour without the root cause: the customer is helped, the why is still open
    case = apply(case, act(ActionType.RESOLVE, 40 * M), DEPTH)
    assert case.state is CaseState.RESOLVED and case.root_cause_category is None
    assert case.action_taken == case.containment and case.action_owner == "j.devries"
    assert due_steps(case, 30 * M + 14 * 24 * H) == ["investigate"]  # the investigation keeps its deadline
    case = apply(case, act(ActionType.CONCLUDE, 3 * 24 * H, root_cause_category="carrier:capacity"), DEPTH)
    assert case.investigation_concluded_ms == 3 * 24 * H and case.root_cause_category == "carrier:capacity"
    assert due_steps(case, 30 * 24 * H) == []


@pytest.mark.parametrize(
    ("steps", "rule"),
    [
        ([act(ActionType.CONTAIN, M, action_taken="refund")], "case.transition"),  # not acknowledged yet
        ([act(ActionType.ACKNOWLEDGE, M), act(ActionType.CONTAIN, M)], "case.containment"),
        ([act(ActionType.INVESTIGATE, M)], "case.investigation_item"),
        ([act(ActionType.CONCLUDE, M, root_cause_category="x")], "case.investigation"),
        ([act(ActionType.INVESTIGATE, M, item_id="rem-1"), act(ActionType.CONCLUDE, M)], "case.root_cause"),
        # contained, but the why handed to nobody: resolving needs the root cause as before
        ([act(ActionType.ACKNOWLEDGE, M), act(ActionType.CONTAIN, M, action_taken="refund"),
          act(ActionType.RESOLVE, M)], "case.root_cause"),
    ],
)  # fmt: skip
def test_speed_and_depth_refusals_name_their_rule(steps: list[Action], rule: str) -> None:
    case = apply(None, act(ActionType.OPEN, 0, actor="system:routing", team="logistics", severity="CRITICAL"), DEPTH)
    for step in steps[:-1]:
        case = apply(case, step, DEPTH)
    with pytest.raises(Refused) as refused:
        apply(case, steps[-1], DEPTH)
    assert refused.value.rule_id == rule


def test_a_reopened_case_is_contained_again_but_keeps_its_investigation() -> None:
    case = apply(None, act(ActionType.OPEN, 0, actor="system:routing", team="logistics", severity="CRITICAL"), DEPTH)
    for step in (act(ActionType.ACKNOWLEDGE, M), act(ActionType.CONTAIN, M, action_taken="refund"),
                 act(ActionType.INVESTIGATE, M, item_id="rem-1"), act(ActionType.RESOLVE, 2 * M),
                 act(ActionType.REOPEN, H, comment="parcel lost again")):  # fmt: skip
        case = apply(case, step, DEPTH)
    assert case.contained_ms is None and case.contain_due_ms == 2 * H and case.investigation_item == "rem-1"
