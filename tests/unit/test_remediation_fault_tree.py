"""Fault trees: MOCUS and the top-event probability against the reference values, and against brute force over
every state of the basic events for trees Hypothesis draws."""

from __future__ import annotations

import math
from itertools import product
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cxstream.domain.remediation.fault_tree import (
    FaultTree,
    GateKind,
    exact_probability,
    fixed_probabilities,
    minimal_cut_sets,
    ranked_cut_sets,
    top_probability,
)


def tree(gates: dict[str, tuple[str, list[str]]], p: dict[str, float], top: str = "TOP") -> FaultTree:
    return FaultTree.model_validate({
        "id": "tree", "display": "top event", "top": top,
        "gates": {name: {"gate": kind, "inputs": inputs} for name, (kind, inputs) in gates.items()},
        "events": {name: {"probability": value} for name, value in p.items()},
    })  # fmt: skip


def test_mocus_reference_tree() -> None:
    t = tree(
        {"TOP": ("OR", ["E1", "E2"]), "E1": ("OR", ["a", "b"]), "E2": ("AND", ["c", "d"])},
        {"a": 0.1, "b": 0.1, "c": 0.1, "d": 0.1},
    )
    assert minimal_cut_sets(t) == [frozenset({"a"}), frozenset({"b"}), frozenset({"c", "d"})]


def test_a_and_b_or_c_exact_is_0_314() -> None:
    t = tree({"TOP": ("OR", ["G", "C"]), "G": ("AND", ["A", "B"])}, {"A": 0.1, "B": 0.2, "C": 0.3})
    result = top_probability(t, fixed_probabilities(t))
    assert result.exact == pytest.approx(0.314, abs=5e-16)
    assert round(result.exact or 0, 3) == 0.314
    assert result.rare_event == pytest.approx(0.32)  # an upper bound
    assert result.exact <= result.min_cut_bound <= result.rare_event


def test_a_or_b_and_c_exact_and_rare_event() -> None:
    t = tree({"TOP": ("OR", ["A", "G"]), "G": ("AND", ["B", "C"])}, {"A": 0.01, "B": 0.2, "C": 0.3})
    result = top_probability(t, fixed_probabilities(t))
    assert round(result.exact or 0, 4) == 0.0694
    assert round(result.rare_event, 4) == 0.07
    ranked = ranked_cut_sets(minimal_cut_sets(t), fixed_probabilities(t))
    assert [r.events for r in ranked] == [("B", "C"), ("A",)]  # 0.06 before 0.01
    assert ranked[0].share == pytest.approx(0.06 / 0.07)


def test_shared_event_is_not_counted_twice() -> None:
    # TOP = AND(OR(a, b), OR(a, c)): a appears under both branches; minimal cut sets {a}, {b, c}
    t = tree({"TOP": ("AND", ["G1", "G2"]), "G1": ("OR", ["a", "b"]), "G2": ("OR", ["a", "c"])},
             {"a": 0.5, "b": 0.5, "c": 0.5})  # fmt: skip
    assert minimal_cut_sets(t) == [frozenset({"a"}), frozenset({"b", "c"})]
    # P = P(a) + P(not a) P(b) P(c) = 0.5 + 0.5 * 0.25 = 0.625 (naive independent branches: 0.5625)
    assert exact_probability(t, fixed_probabilities(t)) == pytest.approx(0.625)


@pytest.mark.parametrize(
    ("gates", "events", "message"),
    [
        ({"TOP": {"gate": "OR", "inputs": ["x"]}}, {"a": {"probability": 0.1}}, "neither a gate nor a basic event"),
        ({"TOP": {"gate": "OR", "inputs": ["G"]}, "G": {"gate": "AND", "inputs": ["TOP", "a"]}},
         {"a": {"probability": 0.1}}, "cycle"),
        ({"TOP": {"gate": "OR", "inputs": ["a"]}}, {"a": {"probability": 0.1}, "b": {"probability": 0.2}},
         "not under the top gate"),
        ({"TOP": {"gate": "OR", "inputs": ["a"]}}, {"a": {}}, "probability or evidence"),
        ({"TOP": {"gate": "XOR", "inputs": ["a"]}}, {"a": {"probability": 0.1}}, "gate"),
    ],
)  # fmt: skip
def test_bad_trees_are_refused(gates: dict[str, Any], events: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FaultTree.model_validate({"id": "tree", "display": "x", "top": "TOP", "gates": gates, "events": events})


# --- brute force over random trees ----------------------------------------------------------------------------

EVENTS = ["a", "b", "c", "d", "e"]


@st.composite
def trees(draw: st.DrawFn) -> FaultTree:
    """Random trees of up to four gates over up to five basic events; events may be shared between gates."""
    n_gates = draw(st.integers(1, 4))
    names = [f"G{i}" for i in range(n_gates)]
    gates: dict[str, tuple[str, list[str]]] = {}
    used: set[str] = set()
    for i, name in enumerate(names):
        below = names[i + 1 :]
        children = draw(st.lists(st.sampled_from(EVENTS + below), min_size=1, max_size=3, unique=True))
        gates[name] = (draw(st.sampled_from(["AND", "OR"])), children)
        used |= set(children)
    reachable = _reachable(gates, names[0])
    gates = {n: g for n, g in gates.items() if n in reachable}
    leaves = sorted({c for n in gates for c in gates[n][1] if c in EVENTS})
    p = {e: draw(st.floats(0.0, 1.0)) for e in leaves}
    return tree(gates, p, top=names[0])


def _reachable(gates: dict[str, tuple[str, list[str]]], top: str) -> set[str]:
    seen = {top}
    stack = [top]
    while stack:
        for child in gates[stack.pop()][1]:
            if child in gates and child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _occurs(t: FaultTree, true: set[str], node: str) -> bool:
    if node in t.events:
        return node in true
    gate = t.gates[node]
    values = [_occurs(t, true, child) for child in gate.inputs]
    return all(values) if gate.gate is GateKind.AND else any(values)


@settings(max_examples=200, deadline=None)
@given(trees())
def test_cut_sets_and_probability_match_brute_force(t: FaultTree) -> None:
    events = sorted(t.events)
    p = fixed_probabilities(t)
    states = [set(e for e, s in zip(events, bits, strict=True) if s) for bits in product((0, 1), repeat=len(events))]
    failing = [s for s in states if _occurs(t, s, t.top)]
    brute_minimal = sorted(
        (frozenset(s) for s in failing if not any(other < s for other in failing)), key=lambda c: (len(c), sorted(c))
    )
    cuts = minimal_cut_sets(t)
    assert cuts == brute_minimal
    brute_p = math.fsum(math.prod(p[e] if e in s else 1 - p[e] for e in events) for s in failing)
    result = top_probability(t, p, cuts)
    assert result.exact == pytest.approx(brute_p, abs=1e-12)
    assert result.exact <= result.min_cut_bound + 1e-12
    assert result.min_cut_bound <= result.rare_event + 1e-12
