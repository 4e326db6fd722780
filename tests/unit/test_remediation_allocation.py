"""Shared capacity by risk-adjusted value: the integer program against brute force on small instances, the
sensitivity, and the plan over a backlog (work in progress holds its capacity; items lacking figures are named)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from cxstream.config.topology import load_topology
from cxstream.domain.remediation.allocation import Project, allocate, at_low_end, plan, sensitivity
from cxstream.domain.remediation.items import Action, Change, ItemAction, apply
from cxstream.domain.remediation.spec import Remediation
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[2]
SPEC: Remediation = load_topology(ROOT / "topologies", SchemaCatalog.from_dir(ROOT / "schemas").names()).remediation  # type: ignore[assignment]


def brute_force(projects: list[Project], available: dict[str, float]) -> float:
    best = 0.0
    for pick in itertools.product((0, 1), repeat=len(projects)):
        chosen = [p for p, x in zip(projects, pick, strict=True) if x]
        if all(sum(p.requests.get(r, 0) for p in chosen) <= c + 1e-9 for r, c in available.items()):
            best = max(best, sum(p.value for p in chosen))
    return best


@pytest.mark.parametrize("seed", range(40))
def test_the_integer_program_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    resources = ["analytics", "ux", "engineering"]
    projects = [
        Project(f"p{i}", f"project {i}", v := rng.uniform(1, 100), v * 0.6, v * 1.3,
                {r: float(rng.randint(0, 5)) for r in rng.sample(resources, rng.randint(1, 3))})
        for i in range(rng.randint(1, 9))
    ]  # fmt: skip
    available = {r: float(rng.randint(2, 10)) for r in resources}
    found = allocate(projects, available)
    assert found.value == pytest.approx(brute_force(projects, available))
    for resource, used in found.used.items():
        assert used <= available[resource] + 1e-9


def test_greedy_would_be_wrong_and_the_program_is_not() -> None:
    """By value per week, A (value 10, 6 weeks) goes first and leaves room for nothing; B and C (9 + 9, 5 weeks
    each) are worth more together."""
    projects = [Project("A", "a", 10, 8, 12, {"ux": 6}), Project("B", "b", 9, 0.5, 10, {"ux": 5}),
                Project("C", "c", 9, 8, 10, {"ux": 5})]  # fmt: skip
    found = allocate(projects, {"ux": 10})
    assert found.chosen == ("B", "C") and found.value == 18
    stays = {s.item_id: s for s in sensitivity(projects, {"ux": 10}, found)}
    assert not stays["B"].stays and stays["B"].instead == ("A",)  # B at 0.5: A alone (10) beats B + C (9.5)
    assert stays["C"].stays  # C at 8: B + C (17) still beats A
    assert at_low_end(projects, {"ux": 10}).chosen == ("B", "C")  # 0.5 + 8 against A's 8


def act(kind: ItemAction, item: str, n: int, **extra: object) -> Action:
    return Action(f"{item}-{n}", item, kind, "ann", n * 1000, role="admin", **extra)  # type: ignore[arg-type]


def test_the_plan_over_a_backlog() -> None:
    items = {}
    figures = {"reach": 100.0, "severity": 6, "cost_weeks": 2.0, "risk": 0.25}
    proposal_a = act(ItemAction.PROPOSE, "rem-a", 0, title="A", effect=5.0, effect_low=2.0, effect_high=8.0,
                     requests={"ux": 2.0, "engineering": 4.0}, **figures)  # fmt: skip
    items["rem-a"] = apply(None, proposal_a, SPEC)
    proposal_b = act(ItemAction.PROPOSE, "rem-b", 0, title="B", effect=3.0, requests={"engineering": 8.0}, **figures)
    items["rem-b"] = apply(None, proposal_b, SPEC)
    items["rem-c"] = apply(None, act(ItemAction.PROPOSE, "rem-c", 0, title="C", requests={"ux": 1.0}), SPEC)
    change = Change("d", ("logistics",), target_metrics=("csat.delivery",))
    started = apply(None, act(ItemAction.PROPOSE, "rem-d", 0, title="D", requests={"engineering": 3.0}), SPEC)
    started = apply(started, act(ItemAction.SET_CHANGE, "rem-d", 1, change=change), SPEC)
    started = apply(started, act(ItemAction.APPROVE, "rem-d", 2, department="logistics"), SPEC)
    items["rem-d"] = apply(started, act(ItemAction.START, "rem-d", 3), SPEC)
    found = plan(list(items.values()), SPEC)
    assert found.committed == {"engineering": 3.0}  # rem-d in progress
    assert found.allocation.available["engineering"] == SPEC.capacity["engineering"] - 3.0
    a = next(p for p in found.projects if p.item_id == "rem-a")
    assert a.value == pytest.approx(5.0 * 100 * 0.75) and a.value_low == pytest.approx(2.0 * 100 * 0.75)
    assert found.allocation.chosen == ("rem-a",)  # 4 + 8 engineering weeks do not fit in 7: A is worth more
    assert dict(found.missing) == {"rem-c": "an expected effect, a reach"}
