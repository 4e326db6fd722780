"""Shared capacity (analytics, UX, engineering weeks) allocated to improvement projects by risk-adjusted expected
value, as an exact 0/1 integer program (scipy's ``milp``, the HiGHS solver), not a greedy rule:

    maximise   sum_i x_i v_i
    subject to sum_i x_i r_ik <= c_k - committed_k   for every resource k
               x_i in {0, 1}

v_i = expected effect (points of the target metric) x affected customers per week x (1 - risk): customer-points a
week, risk-adjusted. Each project carries its value's range (effect and reach at their interval ends); the
sensitivity says, for each chosen project, whether the choice stands when that project's value is at its low end
(and what would replace it), and the allocation at everyone's low end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cxstream.domain.remediation.items import Item, ItemState
from cxstream.domain.remediation.priority import segment_value
from cxstream.domain.remediation.spec import Remediation


@dataclass(frozen=True)
class Project:
    item_id: str
    title: str
    value: float  # risk-adjusted expected value: customer-points a week
    value_low: float
    value_high: float
    requests: Mapping[str, float]  # resource -> weeks


@dataclass(frozen=True)
class Allocation:
    chosen: tuple[str, ...]  # item ids, in the order given
    value: float
    used: Mapping[str, float]
    available: Mapping[str, float]


def allocate(projects: Sequence[Project], available: Mapping[str, float],
             values: Mapping[str, float] | None = None) -> Allocation:  # fmt: skip
    """The best set of projects for ``available`` capacity (``values``: other values for some projects)."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp

    resources = sorted(available)
    unknown = sorted({r for p in projects for r in p.requests} - set(resources))
    if unknown:
        raise ValueError(f"no capacity declared for {unknown[0]!r} (remediation.capacity)")
    if not projects:
        return Allocation((), 0.0, dict.fromkeys(resources, 0.0), dict(available))
    worth = [float((values or {}).get(p.item_id, p.value)) for p in projects]
    matrix = np.array([[p.requests.get(r, 0.0) for p in projects] for r in resources], dtype=float)
    limits = np.array([max(0.0, available[r]) for r in resources], dtype=float)
    constraints = [LinearConstraint(matrix, -np.inf, limits)] if resources else []
    result = milp(c=-np.array(worth), constraints=constraints, integrality=np.ones(len(projects)),
                  bounds=Bounds(0, 1))  # fmt: skip
    if result.x is None:
        raise ValueError(f"no allocation found: {result.message}")
    chosen = [p for p, x in zip(projects, result.x, strict=True) if x > 0.5]
    used = {r: sum(p.requests.get(r, 0.0) for p in chosen) for r in resources}
    return Allocation(tuple(p.item_id for p in chosen), sum(worth[projects.index(p)] for p in chosen), used,
                      dict(available))  # fmt: skip


@dataclass(frozen=True)
class Sensitivity:
    item_id: str
    stays: bool  # still chosen with its value at its low end
    instead: tuple[str, ...]  # what the allocation takes in its place when it does not stay


def sensitivity(projects: Sequence[Project], available: Mapping[str, float], base: Allocation) -> list[Sensitivity]:
    out = []
    for item_id in base.chosen:
        project = next(p for p in projects if p.item_id == item_id)
        again = allocate(projects, available, {item_id: project.value_low})
        stays = item_id in again.chosen
        instead = () if stays else tuple(i for i in again.chosen if i not in base.chosen)
        out.append(Sensitivity(item_id, stays, instead))
    return out


def project_of(item: Item, spec: Remediation) -> Project | None:
    """The item as a project competing for capacity, or None while it lacks what the value needs (an expected
    effect, a reach, its requests)."""
    if item.effect is None or item.reach <= 0 or not item.requests:
        return None
    worth = segment_value(spec.priority, item.segments) * (1.0 - item.risk)
    low = (item.effect_low if item.effect_low is not None else item.effect) * item.reach_low * worth
    high = (item.effect_high if item.effect_high is not None else item.effect) * item.reach_high * worth
    return Project(item.item_id, item.title, item.effect * item.reach * worth, min(low, high), max(low, high),
                   dict(item.requests))  # fmt: skip


def committed(items: Sequence[Item]) -> dict[str, float]:
    """Capacity already taken by work in progress (approved and started, not yet rolled out)."""
    out: dict[str, float] = {}
    for item in items:
        if item.state is ItemState.IN_PROGRESS:
            for resource, weeks in item.requests.items():
                out[resource] = out.get(resource, 0.0) + weeks
    return out


#: the states whose items compete for capacity
CANDIDATES = frozenset({ItemState.PROPOSED, ItemState.ANALYSED, ItemState.APPROVED, ItemState.FAILED})


def at_low_end(projects: Sequence[Project], available: Mapping[str, float]) -> Allocation:
    """The allocation when every project's value is at its low end."""
    return allocate(projects, available, {p.item_id: p.value_low for p in projects})


@dataclass(frozen=True)
class Plan:
    """The allocation proposal with what it rests on: the candidates, those left out for lack of figures, the
    capacity committed to work in progress, and the sensitivity."""

    projects: tuple[Project, ...]
    missing: tuple[tuple[str, str], ...]  # (item id, what it lacks)
    capacity: Mapping[str, float]
    committed: Mapping[str, float]
    allocation: Allocation
    sensitivity: tuple[Sensitivity, ...]
    at_low: Allocation


def plan(items: Sequence[Item], spec: Remediation) -> Plan:
    projects, missing = [], []
    for item in sorted(items, key=lambda i: i.item_id):
        if item.state not in CANDIDATES:
            continue
        found = project_of(item, spec)
        if found is None:
            lacks = [w for w, ok in (("an expected effect", item.effect is not None), ("a reach", item.reach > 0),
                                     ("capacity requests", bool(item.requests))) if not ok]  # fmt: skip
            missing.append((item.item_id, ", ".join(lacks)))
        else:
            projects.append(found)
    taken = committed(items)
    available = {r: max(0.0, c - taken.get(r, 0.0)) for r, c in spec.capacity.items()}
    best = allocate(projects, available)
    return Plan(tuple(projects), tuple(missing), dict(spec.capacity), taken, best,
                tuple(sensitivity(projects, available, best)), at_low_end(projects, available))  # fmt: skip
