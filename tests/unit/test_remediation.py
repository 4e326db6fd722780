"""The improvement loop's rules: the FMEA action-priority table, the priority formula, the root-cause taxonomy on
cases, and the remediation item's lifecycle with change control (Hypothesis explores the actions)."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.config.topology import load_topology
from cxstream.config.yaml_source import ConfigError
from cxstream.domain.cases.machine import Action as CaseAction
from cxstream.domain.cases.machine import ActionType, CasePolicy
from cxstream.domain.cases.machine import Refused as CaseRefused
from cxstream.domain.cases.machine import apply as apply_case
from cxstream.domain.remediation.fmea import ActionPriority, FailureMode, rpn
from cxstream.domain.remediation.items import (
    VERDICT,
    Action,
    Change,
    Item,
    ItemAction,
    ItemState,
    Refused,
    apply,
    approvals_complete,
    missing_approvals,
    required_departments,
    unmitigated,
)
from cxstream.domain.remediation.priority import Impact, priority, weekly_rate
from cxstream.domain.remediation.spec import PrioritySpec, Remediation
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = SchemaCatalog.from_dir(ROOT / "schemas").names()
SPEC: Remediation = load_topology(ROOT / "topologies", SCHEMAS).remediation  # type: ignore[assignment]
H, M, L = ActionPriority.HIGH, ActionPriority.MEDIUM, ActionPriority.LOW


# --- FMEA ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("s", "o", "d", "expected"),
    [
        (9, 2, 2, L),  # the what-if: severe but rare and well detected
        (10, 10, 1, H), (9, 4, 1, M), (9, 5, 2, H), (9, 3, 7, H), (9, 3, 5, M), (9, 1, 10, L),
        (8, 7, 1, M), (7, 5, 7, H), (7, 4, 6, M), (7, 3, 8, M), (7, 2, 4, L),
        (6, 8, 4, M), (5, 9, 6, H), (4, 6, 1, L), (4, 5, 7, M), (6, 3, 10, L),
        (3, 9, 8, M), (2, 10, 3, L), (3, 7, 10, L), (1, 10, 10, L),
    ],
)  # fmt: skip
def test_action_priority_follows_the_handbook_table(s: int, o: int, d: int, expected: ActionPriority) -> None:
    assert SPEC.fmea.priority(s, o, d) is expected


def test_rpn_and_what_it_misses() -> None:
    assert rpn(9, 2, 2) == 36
    # the same RPN, different priorities: why the handbook replaced it
    assert rpn(9, 4, 2) == rpn(2, 9, 4) == 72
    assert SPEC.fmea.priority(9, 4, 2) is H and SPEC.fmea.priority(2, 9, 4) is L


def test_severity_comes_first_in_the_table() -> None:
    """For every occurrence and detection, a higher severity never lowers the priority."""
    rank = {L: 0, M: 1, H: 2}
    for o, d in itertools.product(range(1, 11), range(1, 11)):
        values = [rank[SPEC.fmea.priority(s, o, d)] for s in range(1, 11)]
        assert values == sorted(values), (o, d)


def test_occurrence_from_an_observed_rate() -> None:
    assert SPEC.fmea.occurrence(0.0) == 1
    assert SPEC.fmea.occurrence(0.003) == 6
    assert SPEC.fmea.occurrence(0.05) == 9
    assert SPEC.fmea.occurrence(0.3) == 10


def test_a_table_with_a_hole_fails_at_start(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "topologies", tmp_path / "topologies")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    path = tmp_path / "topologies/remediation.yaml"
    text = path.read_text().replace("      - {severity: 2-3, occurrence: 1-7, detection: {1-10: low}}\n", "")
    text = text.replace("owner: compliance}", "owner: legal}")
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_topology(tmp_path / "topologies", SCHEMAS)
    found = "\n".join(caught.value.problems)
    assert f"{path}:" in found and "severity 2, occurrence 1 has no row" in found


def test_unknown_department_owner_names_line_and_field(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "topologies", tmp_path / "topologies")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    path = tmp_path / "topologies/remediation.yaml"
    text = path.read_text().replace("owner: compliance}", "owner: legal}")
    text = text.replace("evidence: {metric: first_response, where: {region: emea}", "evidence: {metric: csat.support, "
                        "where: {carrier: dhl}")  # fmt: skip
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_topology(tmp_path / "topologies", SCHEMAS)
    found = caught.value.problems
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "owner: legal" in t)
    assert f"{path}:{line}: remediation.departments[5].owner: 'legal' is not a team" in found
    assert any("events.support_slow.evidence.rate: csat.support has no SLA to miss" in p for p in found)
    assert any("evidence.where.carrier: csat.support is not kept per carrier" in p for p in found)


# --- priority --------------------------------------------------------------------------------------------------


def test_priority_shows_its_components() -> None:
    spec = PrioritySpec(segment_value={"consumer": 1, "vip": 8})
    result = priority(spec, Impact(100, 80, 120, {"consumer": 0.5, "vip": 0.5}, 8, 4, 0.2))
    # reach 100 customers/week valued (0.5 x 1 + 0.5 x 8) = 450; x 8 x 0.8 / 4
    assert result.score == pytest.approx(450 * 8 * 0.8 / 4)
    assert result.score_low == pytest.approx(360 * 8 * 0.8 / 4)
    assert result.score_high == pytest.approx(540 * 8 * 0.8 / 4)
    names = [c.name for c in result.components]
    assert names == ["reach", "impact", "confidence", "effort"]
    assert sum(abs(c.log_share) for c in result.components) == pytest.approx(1.0)
    assert next(c for c in result.components if c.name == "effort").log_share < 0


impacts = st.builds(
    Impact,
    reach=st.floats(0.1, 1e4), reach_low=st.just(0.0), reach_high=st.just(0.0),
    segments=st.just({}), severity=st.integers(1, 10), cost_weeks=st.floats(0.1, 100), risk=st.floats(0, 0.95),
)  # fmt: skip
weights = st.builds(PrioritySpec, reach=st.floats(0, 3), impact=st.floats(0, 3), confidence=st.floats(0, 3),
                    effort=st.floats(0, 3))  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(weights, impacts, st.floats(1.0, 10.0))
def test_priority_is_monotone(spec: PrioritySpec, impact: Impact, factor: float) -> None:
    base = priority(spec, impact).score
    tol = 1e-9 * max(base, 1.0)
    assert priority(spec, replace(impact, reach=impact.reach * factor)).score >= base - tol
    assert priority(spec, replace(impact, severity=min(10, impact.severity + 1))).score >= base - tol
    assert priority(spec, replace(impact, cost_weeks=impact.cost_weeks * factor)).score <= base + tol
    assert priority(spec, replace(impact, risk=min(0.99, impact.risk + 0.01))).score <= base + tol


def test_weekly_rate_has_the_exact_poisson_interval() -> None:
    rate, low, high = weekly_rate(10, 7)
    # Garwood 95 % interval for 10 events: 4.795 to 18.39 (e.g. R's poisson.test(10)$conf.int)
    assert rate == 10 and round(low, 3) == 4.795 and round(high, 2) == 18.39
    assert weekly_rate(0, 14)[1] == 0.0


# --- the root-cause taxonomy on cases -------------------------------------------------------------------------


def _case_action(kind: ActionType, n: int, **extra: object) -> CaseAction:
    return CaseAction(action_id=f"a{n}", case_id="case-1", action=kind, actor="ann", at_ms=n * 1000,
                      **extra)  # type: ignore[arg-type]  # fmt: skip


def test_a_case_resolves_with_a_declared_cause_code() -> None:
    policy, causes = CasePolicy(), SPEC.root_causes
    case = apply_case(None, _case_action(ActionType.OPEN, 1, team="logistics"), policy, causes)
    case = apply_case(case, _case_action(ActionType.ACKNOWLEDGE, 2), policy, causes)
    case = apply_case(case, _case_action(ActionType.DOCUMENT_ACTION, 3, action_taken="rebooked", action_owner="ops"),
                      policy, causes)  # fmt: skip
    resolve = _case_action(ActionType.RESOLVE, 4, root_cause_category="carrier capacity in Amsterdam")
    with pytest.raises(CaseRefused, match="root-cause code is required"):
        apply_case(case, resolve, policy, causes)
    with pytest.raises(CaseRefused, match="unknown root-cause code 'CARRIER'"):
        apply_case(case, replace(resolve, root_cause_code="CARRIER"), policy, causes)
    done = apply_case(case, replace(resolve, root_cause_code="SUP-CARRIER-CAPACITY"), policy, causes)
    assert done.root_cause_code == "SUP-CARRIER-CAPACITY"
    assert done.root_cause_category == "carrier capacity in Amsterdam"  # the free text stays
    assert causes.class_of("SUP-CARRIER-CAPACITY") == "supplier"
    # without a taxonomy (none declared) the free text is enough, as before
    assert apply_case(case, resolve, policy).root_cause_code is None


# --- the remediation item's lifecycle --------------------------------------------------------------------------

CHANGE = Change(
    description="Second carrier for Amsterdam overflow",
    departments=("logistics", "customer-service"),
    target_metrics=("csat.delivery",),
    procedure="late-delivery-handling",
    procedure_version="2",
    failure_modes=(
        # high action priority: severity 9, occurrence 5
        FailureMode(id="wrong-labels", description="Wrong carrier labels", severity=9, occurrence=5, detection=5),
        FailureMode(id="slower-pickup", description="Later pick-up", severity=4, occurrence=3, detection=3),
    ),
)
CHECKED = CHANGE.failure_modes[0].model_copy(update={"mitigation": "scan check at the dock"})
MITIGATED = replace(CHANGE, failure_modes=(CHECKED, CHANGE.failure_modes[1]))


def act(kind: ItemAction, n: int, **extra: object) -> Action:
    base: dict[str, object] = {"actor": "ann", "role": "admin"}
    base.update(extra)
    return Action(action_id=f"r{n}", item_id="rem-1", action=kind, at_ms=n * 1000, **base)  # type: ignore[arg-type]


def proposed() -> Item:
    first = act(ItemAction.PROPOSE, 0, title="Late deliveries from Amsterdam", cause_code="SUP-CARRIER-CAPACITY",
                labels={"region": "emea", "site": "ams-1"}, reach=120, severity=7, cost_weeks=3)  # fmt: skip
    return apply(None, first, SPEC)


def test_the_happy_path_to_rollout() -> None:
    item = apply(proposed(), act(ItemAction.SET_CHANGE, 1, change=MITIGATED), SPEC)
    assert item.state is ItemState.ANALYSED
    assert required_departments(item.change, SPEC) == ("logistics", "customer-service")
    supervisor = {"role": "supervisor", "teams": ("logistics",)}
    item = apply(item, act(ItemAction.APPROVE, 2, department="logistics", **supervisor), SPEC)
    assert item.state is ItemState.ANALYSED and missing_approvals(item, SPEC) == ("customer-service",)
    item = apply(item, act(ItemAction.APPROVE, 3, department="customer-service"), SPEC)
    assert item.state is ItemState.APPROVED
    item = apply(item, act(ItemAction.ROLL_OUT, 4, scope={"site": "ams-1"}), SPEC)
    assert item.state is ItemState.ROLLED_OUT
    assert item.rollouts[0].procedure_version == "2"
    with pytest.raises(Refused, match="not by a person"):
        apply(item, act(ItemAction.VERIFY, 5, metric="csat.delivery", comment="fine"), SPEC)
    done = apply(item, act(ItemAction.VERIFY, 5, actor=VERDICT, metric="csat.delivery", comment="CSAT +7.1"), SPEC)
    assert done.state is ItemState.VERIFIED and done.verdicts[0].outcome == "verified"


def test_change_control_refusals() -> None:
    item = apply(proposed(), act(ItemAction.SET_CHANGE, 1, change=replace(CHANGE, regulated=True)), SPEC)
    assert required_departments(item.change, SPEC) == ("logistics", "customer-service", "compliance")
    with pytest.raises(Refused, match="no mitigation: wrong-labels"):
        apply(item, act(ItemAction.APPROVE, 2, department="logistics"), SPEC)
    item = apply(item, act(ItemAction.SET_CHANGE, 2, change=replace(MITIGATED, regulated=True)), SPEC)
    with pytest.raises(Refused, match="owning team"):  # a billing supervisor does not approve for logistics
        apply(item, act(ItemAction.APPROVE, 3, department="logistics", role="supervisor", teams=("billing",)), SPEC)
    with pytest.raises(Refused, match="not among the required approvers"):
        apply(item, act(ItemAction.APPROVE, 3, department="billing"), SPEC)
    with pytest.raises(Refused, match="needs the item in APPROVED"):
        apply(item, act(ItemAction.ROLL_OUT, 3, scope={"site": "ams-1"}), SPEC)
    for n, department in enumerate(("logistics", "customer-service", "compliance"), start=3):
        item = apply(item, act(ItemAction.APPROVE, n, department=department), SPEC)
    assert item.state is ItemState.APPROVED
    item = apply(item, act(ItemAction.REFUSE, 7, department="compliance", comment="consent text missing"), SPEC)
    assert item.state is ItemState.ANALYSED and missing_approvals(item, SPEC) == ("compliance",)
    with pytest.raises(Refused, match="a reason for the refusal"):
        apply(item, act(ItemAction.REFUSE, 8, department="compliance"), SPEC)


def test_a_changed_change_needs_its_approvals_again() -> None:
    item = apply(proposed(), act(ItemAction.SET_CHANGE, 1, change=replace(MITIGATED, departments=("logistics",))), SPEC)
    item = apply(item, act(ItemAction.APPROVE, 2, department="logistics"), SPEC)
    assert item.state is ItemState.APPROVED
    item = apply(item, act(ItemAction.SET_CHANGE, 3, change=MITIGATED), SPEC)
    assert item.state is ItemState.ANALYSED and not approvals_complete(item, SPEC)


def test_a_failed_change_goes_back_to_the_backlog() -> None:
    item = apply(proposed(), act(ItemAction.SET_CHANGE, 1, change=replace(MITIGATED, departments=("logistics",))), SPEC)
    item = apply(item, act(ItemAction.APPROVE, 2, department="logistics"), SPEC)
    item = apply(item, act(ItemAction.ROLL_OUT, 3, scope={"site": "ams-1"}), SPEC)
    item = apply(item, act(ItemAction.FAIL, 4, actor=VERDICT, metric="csat.delivery", comment="no change"), SPEC)
    assert item.state is ItemState.FAILED
    again = apply(item, act(ItemAction.ANALYSE, 5, comment="the second carrier is as full"), SPEC)
    assert again.state is ItemState.ANALYSED and again.approvals == ()
    # the same action replayed (after a crash) is applied once; the same problem proposed again adds evidence
    assert apply(again, act(ItemAction.ANALYSE, 5, comment="x"), SPEC) is again
    assert apply(again, act(ItemAction.PROPOSE, 6, title="again"), SPEC).evidence == 2


# --- Hypothesis: no rollout without approvals, no approval over an unmitigated high failure mode ---------------

DEPARTMENTS = ["logistics", "customer-service", "billing", "compliance", "it-platform"]
changes = st.builds(
    Change,
    description=st.just("a change"),
    departments=st.lists(st.sampled_from(DEPARTMENTS[:3]), min_size=1, max_size=2, unique=True).map(tuple),
    regulated=st.booleans(),
    target_metrics=st.just(("csat.delivery",)),
    failure_modes=st.sampled_from([(), CHANGE.failure_modes, MITIGATED.failure_modes]),
)
actions = st.one_of(
    st.builds(lambda c: (ItemAction.SET_CHANGE, {"change": c}), changes),
    st.builds(lambda d, r, t: (ItemAction.APPROVE, {"department": d, "role": r, "teams": t}),
              st.sampled_from(DEPARTMENTS), st.sampled_from(["admin", "supervisor", "analyst"]),
              st.sampled_from([(), ("logistics",), ("compliance",)])),
    st.builds(lambda d: (ItemAction.REFUSE, {"department": d, "comment": "no"}), st.sampled_from(DEPARTMENTS)),
    st.builds(lambda s: (ItemAction.ROLL_OUT, {"scope": {"site": s}}), st.sampled_from(["ams-1", "chi-1"])),
    st.just((ItemAction.START, {})),
    st.just((ItemAction.FAIL, {"actor": VERDICT, "metric": "csat.delivery", "comment": "no change"})),
    st.just((ItemAction.ANALYSE, {"comment": "again"})),
    st.just((ItemAction.DROP, {"comment": "not worth it"})),
    st.just((ItemAction.REOPEN, {"comment": "back"})),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(actions, max_size=25))
def test_lifecycle_invariants_hold_for_any_sequence(steps: list[tuple[ItemAction, dict[str, object]]]) -> None:
    item = proposed()
    for n, (kind, extra) in enumerate(steps, start=1):
        before = item
        try:
            item = apply(item, act(kind, n, **extra), SPEC)
        except Refused:
            assert item is before
            continue
        if kind is ItemAction.ROLL_OUT:
            assert approvals_complete(before, SPEC), "rolled out without complete approvals"
        if kind is ItemAction.APPROVE:
            assert before.change is not None and not unmitigated(SPEC.fmea, list(before.change.failure_modes))
        if item.state in (ItemState.APPROVED, ItemState.IN_PROGRESS, ItemState.ROLLED_OUT):
            assert approvals_complete(item, SPEC), item.state
        assert item.version == before.version + 1


def test_actions_round_trip_through_avro() -> None:
    from cxstream.domain.remediation.fault_tree import Evidence
    from cxstream.domain.remediation.records import action_from_record, action_record
    from cxstream.serde.avro import AvroCodec, SingleObjectFraming

    catalog = SchemaCatalog.from_dir(ROOT / "schemas")
    codec = AvroCodec(catalog.get("cxstream.RemediationAction"), SingleObjectFraming(catalog))
    for action in (
        act(ItemAction.SET_CHANGE, 1, change=MITIGATED, teams=("logistics",), comment="why"),
        act(ItemAction.PROPOSE, 2, title="t", labels={"site": "ams-1"}, reach=3.5, reach_low=1.0, reach_high=9.0,
            segments={"vip": 0.25, "consumer": 0.75}, severity=7, cost_weeks=2.5, risk=0.1, cause_code="TRN-TONE"),
        act(ItemAction.ROLL_OUT, 3, scope={"site": "ams-1"}),
        act(ItemAction.SET_CHANGE, 4, change=replace(MITIGATED, failure_modes=(CHECKED.model_copy(update={
            "observed": Evidence(metric="reopen_rate", where={"team": "billing"}, rate="hit")}),))),
    ):  # fmt: skip
        assert action_from_record(codec.decode(codec.encode(action_record(action)))) == action


def test_a_recurring_case_resolved_with_a_code_proposes_one_item_per_cause_and_scope() -> None:
    from cxstream.domain.cases.machine import Case, CaseState
    from cxstream.domain.remediation.backlog import Backlog
    from cxstream.domain.remediation.proposals import proposal_for

    def case(case_id: str, state: CaseState, recurring: bool, code: str | None = "SUP-CARRIER-CAPACITY") -> Case:
        return Case(case_id=case_id, team="logistics", severity="CRITICAL", state=state, opened_ms=0,
                    acknowledge_due_ms=1, resolve_due_ms=2, updated_ms=0, recurring=recurring, root_cause_code=code,
                    labels={"region": "emea", "site": "ams-1", "customer_id": "c1"})  # fmt: skip

    acked = case("case-1", CaseState.ACTION_DOCUMENTED, True)
    first = proposal_for(acked, case("case-1", CaseState.RESOLVED, True), SPEC.root_causes, 1000)
    assert first is not None and first.labels == {"region": "emea", "site": "ams-1"} and first.severity == 8
    assert first.title == "Carrier capacity shortfall (region emea, site ams-1)"
    # not recurring, no code, or already proposed: nothing
    assert proposal_for(acked, case("case-1", CaseState.RESOLVED, False), SPEC.root_causes, 1000) is None
    assert proposal_for(acked, case("case-1", CaseState.RESOLVED, True, None), SPEC.root_causes, 1000) is None
    resolved = case("case-1", CaseState.RESOLVED, True)
    assert proposal_for(resolved, resolved, SPEC.root_causes, 1000) is None
    # flagged recurring after it was resolved: proposed then
    late = proposal_for(case("case-2", CaseState.RESOLVED, False), case("case-2", CaseState.RESOLVED, True),
                        SPEC.root_causes, 2000)  # fmt: skip
    assert late is not None and late.item_id == first.item_id  # the same cause in the same scope: one item
    backlog = Backlog(SPEC)
    backlog.record_all([first, late, first])  # the first again (a replay) is applied once
    [item] = backlog.items.values()
    assert item.evidence == 2 and item.source == "recurrence"


def test_metrics_a_change_names_are_checked() -> None:
    from cxstream.domain.remediation.fault_tree import Evidence
    from cxstream.domain.remediation.items import metric_problems

    metrics = load_topology(ROOT / "topologies", SCHEMAS).metrics
    assert metric_problems(MITIGATED, metrics) == []
    observed = CHANGE.failure_modes[1].model_copy(update={"observed": Evidence(metric="csat.delivery",
                                                                               where={"carrier": "x"})})  # fmt: skip
    bad = replace(MITIGATED, target_metrics=("csat.nowhere",), failure_modes=(observed,))
    assert metric_problems(bad, metrics) == [
        "unknown target metric 'csat.nowhere'",
        "failure mode slower-pickup: csat.delivery is not kept per carrier",
        "failure mode slower-pickup: csat.delivery has no SLA to miss",
    ]


def test_an_observed_rate_suggests_the_occurrence() -> None:
    from cxstream.domain.remediation.backlog import Backlog
    from cxstream.domain.remediation.evidence import Rate
    from cxstream.domain.remediation.views import item_view

    backlog = Backlog(SPEC)
    backlog.record(act(ItemAction.PROPOSE, 0, title="t"))
    backlog.record(act(ItemAction.SET_CHANGE, 1, change=MITIGATED))
    view = item_view(backlog.items["rem-1"], backlog, observed={"slower-pickup": Rate(12, 1000)})
    rows = {r["id"]: r for r in view["fmea"]}  # type: ignore[union-attr, index]
    seen = rows["slower-pickup"]["observed_rate"]  # type: ignore[index]
    # 1.2 % of pick-ups late: occurrence 8 on the shipped scale (up to 2 %), which with severity 4 and detection 3
    # would be a medium action priority instead of the low one rated
    assert seen == {"hits": 12, "n": 1000, "share": 0.012, "occurrence": 8, "action_priority": "medium"}
    assert rows["slower-pickup"]["action_priority"] == "low" and "observed_rate" not in rows["wrong-labels"]
