"""Fault trees: a top event ("late-delivery complaints in EMEA") through AND/OR gates down to basic events that
cxstream observes in its streams (a site's late deliveries, reopened tickets in a queue), or that someone
estimated.

- :func:`minimal_cut_sets` is MOCUS (Fussell and Vesely, 1972): expand the top gate row by row, an OR gate
  into one row per input, an AND gate into all its inputs on the same row, then keep the minimal rows.
- :func:`top_probability` gives the exact probability for independent basic events: the tree is evaluated
  bottom-up, conditioning (Shannon expansion) on each basic event that occurs under more than one gate, so a
  shared event is not counted as two independent ones. Up to ``MAX_SHARED`` shared events; beyond that only
  the bounds are given.
- The rare-event approximation (sum over cut sets of the product of their events' probabilities) and the
  min-cut upper bound (one minus the product of the cut sets' complements) are both upper bounds of the exact
  value for such a (coherent) tree, and are marked as such.

Reference values (tested): TOP = OR(E1, E2), E1 = OR(a, b), E2 = AND(c, d) has minimal cut sets {a}, {b},
{c, d}; (A AND B) OR C with 0.1, 0.2, 0.3 has exact probability 0.314; A OR (B AND C) with 0.01, 0.2, 0.3 has
exact probability 0.0694 and rare-event approximation 0.07.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import product
from typing import Literal

from pydantic import Field, model_validator

from cxstream.domain.base import Strict

NAME = r"^[A-Za-z][A-Za-z0-9_.-]{0,60}$"
MAX_SHARED = 16  # shared basic events the exact evaluation conditions on (2**16 evaluations at most)
MAX_CUT_SETS = 5000  # MOCUS stops here: a tree that large is not reviewed by people anyway


class GateKind(StrEnum):
    AND = "AND"
    OR = "OR"


class Gate(Strict):
    gate: GateKind = Field(description="AND: all inputs must occur; OR: any one")
    inputs: list[str] = Field(min_length=1, description="names of gates or basic events")
    display: str | None = Field(None, description="what the gate's event means, for people")


class Evidence(Strict):
    """Where cxstream observes a basic event: a metric's failures in a scope (see ``remediation.evidence``)."""

    metric: str = Field(description="metric definition id, e.g. delivery_delay")
    where: dict[str, str] = Field(default_factory=dict, description="dimension -> value, e.g. {site: ams-1}")
    rate: Literal["miss", "detractor", "hit"] = Field(
        "miss",
        description="miss: share outside the SLA; detractor: share of detractors; hit: the rate itself "
        "(e.g. reopened tickets)",
    )


class BasicEvent(Strict):
    display: str | None = Field(None, description="what the event means, for people")
    probability: float | None = Field(None, ge=0, le=1, description="estimated probability (no evidence yet)")
    evidence: Evidence | None = Field(None, description="where cxstream observes it")

    @model_validator(mode="after")
    def _known(self) -> BasicEvent:
        if self.probability is None and self.evidence is None:
            raise ValueError("give the event a probability or evidence (where cxstream observes it)")
        return self


class FaultTree(Strict):
    """A declared tree: the top gate, the gates and the basic events, by name."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,60}$")
    display: str = Field(min_length=1, description="the top event, for people")
    top: str = Field(pattern=NAME, description="the top gate")
    where: dict[str, str] = Field(default_factory=dict, description="the scope the top event concerns")
    gates: dict[str, Gate]
    events: dict[str, BasicEvent]

    @model_validator(mode="after")
    def _shape(self) -> FaultTree:
        both = set(self.gates) & set(self.events)
        if both:
            raise ValueError(f"{sorted(both)[0]!r} is both a gate and a basic event")
        if self.top not in self.gates:
            raise ValueError(f"top {self.top!r} is not a gate")
        for name, gate in self.gates.items():
            for child in gate.inputs:
                if child not in self.gates and child not in self.events:
                    raise ValueError(f"gate {name!r}: input {child!r} is neither a gate nor a basic event")
            if len(set(gate.inputs)) != len(gate.inputs):
                raise ValueError(f"gate {name!r}: an input is listed twice")
        self._check_acyclic()
        reached = set(self._below(self.top))
        unused = (set(self.gates) | set(self.events)) - reached - {self.top}
        if unused:
            raise ValueError(f"{sorted(unused)[0]!r} is not under the top gate")
        return self

    def _check_acyclic(self) -> None:
        done: set[str] = set()

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                raise ValueError(f"gates form a cycle: {' -> '.join((*path[path.index(name) :], name))}")
            if name in done or name not in self.gates:
                return
            for child in self.gates[name].inputs:
                visit(child, (*path, name))
            done.add(name)

        visit(self.top, ())

    def _below(self, name: str) -> Iterator[str]:
        for child in self.gates[name].inputs if name in self.gates else ():
            yield child
            yield from self._below(child)

    def name_of(self, node: str) -> str:
        """The name people read for a gate or basic event."""
        found = self.gates.get(node) or self.events.get(node)
        return (found.display if found is not None else None) or node


CutSet = frozenset[str]


def minimal_cut_sets(tree: FaultTree) -> list[CutSet]:
    """The minimal cut sets (MOCUS), smallest first, then by name."""
    rows: list[frozenset[str]] = [frozenset({tree.top})]
    done: set[frozenset[str]] = set()
    while rows:
        row = rows.pop()
        gate = next((n for n in sorted(row) if n in tree.gates), None)
        if gate is None:
            done.add(row)
            if len(done) > MAX_CUT_SETS:
                raise ValueError(f"more than {MAX_CUT_SETS} cut sets: split the tree")
            continue
        rest = row - {gate}
        spec = tree.gates[gate]
        if spec.gate is GateKind.AND:
            rows.append(rest | set(spec.inputs))
        else:
            rows.extend(rest | {child} for child in spec.inputs)
    minimal = [c for c in done if not any(other < c for other in done)]
    return sorted(minimal, key=lambda c: (len(c), sorted(c)))


def _shared_events(tree: FaultTree) -> list[str]:
    """Basic events that more than one gate path reaches (so the branches above them are not independent)."""
    seen: dict[str, int] = {}
    paths = _path_counts(tree)
    for name, count in paths.items():
        if name in tree.events:
            seen[name] = count
    return sorted(name for name, count in seen.items() if count > 1)


def _path_counts(tree: FaultTree) -> dict[str, int]:
    counts: dict[str, int] = {}

    def visit(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1
        for child in tree.gates[name].inputs if name in tree.gates else ():
            visit(child)

    visit(tree.top)
    return counts


def _evaluate(tree: FaultTree, p: Mapping[str, float], node: str) -> float:
    if node in tree.events:
        return p[node]
    gate = tree.gates[node]
    values = [_evaluate(tree, p, child) for child in gate.inputs]
    if gate.gate is GateKind.AND:
        return math.prod(values)
    return 1.0 - math.prod(1.0 - v for v in values)


def exact_probability(tree: FaultTree, p: Mapping[str, float]) -> float | None:
    """The top event's probability for independent basic events with probabilities ``p``; None when more than
    ``MAX_SHARED`` basic events are shared between branches (use the bounds)."""
    shared = _shared_events(tree)
    if len(shared) > MAX_SHARED:
        return None
    total = 0.0
    for states in product((0, 1), repeat=len(shared)):
        weight = math.prod(p[e] if s else 1.0 - p[e] for e, s in zip(shared, states, strict=True))
        if weight == 0.0:
            continue
        fixed = {**p, **{e: float(s) for e, s in zip(shared, states, strict=True)}}
        total += weight * _evaluate(tree, fixed, tree.top)
    return total


def cut_set_probability(cut: CutSet, p: Mapping[str, float]) -> float:
    return math.prod(p[e] for e in cut)


@dataclass(frozen=True)
class TopProbability:
    """The top event's probability: exact (None when the tree is too entangled), and two upper bounds."""

    exact: float | None
    rare_event: float  # sum over minimal cut sets: an upper bound
    min_cut_bound: float  # 1 - prod(1 - P(cut set)): an upper bound, tighter than the rare-event sum

    @property
    def best(self) -> float:
        """The exact value where there is one, else the tighter bound."""
        return self.exact if self.exact is not None else self.min_cut_bound


def top_probability(tree: FaultTree, p: Mapping[str, float], cuts: list[CutSet] | None = None) -> TopProbability:
    missing = sorted(set(tree.events) - set(p))
    if missing:
        raise ValueError(f"no probability for basic event {missing[0]!r}")
    cuts = minimal_cut_sets(tree) if cuts is None else cuts
    each = [cut_set_probability(c, p) for c in cuts]
    return TopProbability(
        exact=exact_probability(tree, p),
        rare_event=math.fsum(each),
        min_cut_bound=1.0 - math.prod(1.0 - v for v in each),
    )


@dataclass(frozen=True)
class RankedCutSet:
    """A minimal cut set with its probability and its share of the rare-event sum: which combination of
    causes most likely explains the top event."""

    events: tuple[str, ...]
    probability: float
    share: float


def ranked_cut_sets(cuts: list[CutSet], p: Mapping[str, float]) -> list[RankedCutSet]:
    """Cut sets by probability, most likely first; ``share`` is each one's part of the rare-event sum (the
    Fussell-Vesely importance of the cut set under the rare-event approximation)."""
    each = [(tuple(sorted(c)), cut_set_probability(c, p)) for c in cuts]
    total = math.fsum(v for _, v in each)
    ranked = [RankedCutSet(events, v, v / total if total > 0 else 0.0) for events, v in each]
    return sorted(ranked, key=lambda r: (-r.probability, len(r.events), r.events))


def fixed_probabilities(tree: FaultTree) -> dict[str, float]:
    """The declared probabilities of the basic events (the what-if file's); an event without one is an error."""
    missing = sorted(name for name, event in tree.events.items() if event.probability is None)
    if missing:
        raise ValueError(f"basic event {missing[0]!r} has no probability")
    return {name: float(event.probability or 0.0) for name, event in tree.events.items()}
