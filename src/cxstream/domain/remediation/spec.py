"""What ``topologies/remediation.yaml`` declares: the root-cause taxonomy, the departments and who approves their
changes, the priority formula's weights, the FMEA action-priority table, fault trees, and when a fix's
verdict may be given."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from cxstream.domain.base import Strict
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.remediation.causes import RootCauses
from cxstream.domain.remediation.fault_tree import FaultTree
from cxstream.domain.remediation.fmea import FailureMode, FmeaSpec

DEPARTMENT = r"^[a-z][a-z0-9-]{1,40}$"


class Department(Strict):
    """A department a change can touch; its owning team's supervisors approve such changes."""

    id: str = Field(pattern=DEPARTMENT)
    display: str = Field(min_length=2)
    owner: str = Field(description="the team whose supervisor (or an admin) approves")


class PrioritySpec(Strict):
    """The priority of a remediation item, RICE-style: reach x impact x confidence / effort, each raised to its
    declared weight (a weight of 0 leaves that component out; 1 is plain RICE)."""

    reach: float = Field(1.0, ge=0, description="weight of affected customers per week (segment-valued)")
    impact: float = Field(1.0, ge=0, description="weight of severity (1-10)")
    confidence: float = Field(1.0, ge=0, description="weight of 1 - risk (the chance the fix fails)")
    effort: float = Field(1.0, ge=0, description="weight of the cost to fix (person-weeks)")
    segment_value: dict[str, float] = Field(
        default_factory=lambda: {"consumer": 1.0}, description="customer segment -> value of one affected customer"
    )
    default_segment_value: float = Field(1.0, gt=0, description="for customers of a segment not listed")

    @field_validator("segment_value")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for segment, weight in value.items():
            if weight <= 0:
                raise ValueError(f"segment {segment!r}: a value must be positive")
        return value


class VerdictSpec(Strict):
    """When a rolled-out change gets a verdict: the before and after periods, and the sample it needs."""

    before: str = Field("7d", description="the period before the rollout that is compared")
    after: str = Field("7d", description="the period after the rollout that is compared (at most)")
    settle: str = Field("0s", description="time after the rollout left out while the change settles in")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    power: float = Field(0.8, gt=0.5, lt=1, description="for 'not yet: need about N more'")
    min_effect: float = Field(
        0.05, gt=0, lt=1, description="the smallest improvement worth detecting, as a share (CSAT: 0.05 = 5 points)"
    )
    check_every: str = Field("1m", description="how often rolled-out changes are compared")

    @field_validator("before", "after", "settle", "check_every")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_ms(value)
        return value


class OperationalPareto(Strict):
    """Where an operational failure happens: a metric's failures counted by one dimension (late deliveries by
    site, reopened tickets by team)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,60}$")
    display: str = Field(min_length=3)
    metric: str
    rate: Literal["miss", "detractor", "hit"] = "miss"
    by: str = Field(description="the dimension the failures are counted by, e.g. site")


class Remediation(Strict):
    """``remediation:`` in the topology."""

    root_causes: RootCauses
    departments: list[Department] = Field(min_length=1)
    regulated_approver: str = Field(
        description="the department (e.g. compliance) that approves every change with regulatory impact"
    )
    priority: PrioritySpec = PrioritySpec()
    fmea: FmeaSpec
    verdict: VerdictSpec = VerdictSpec()
    fault_trees: list[FaultTree] = Field(default_factory=list)
    paretos: list[OperationalPareto] = Field(default_factory=list)
    capacity: dict[str, float] = Field(
        default_factory=dict, description="shared capacity per planning period: resource -> weeks, e.g. ux: 4"
    )

    @model_validator(mode="after")
    def _refs(self) -> Remediation:
        ids = [d.id for d in self.departments]
        if len(set(ids)) != len(ids):
            raise ValueError("a department is declared twice")
        if self.regulated_approver not in ids:
            raise ValueError(f"regulated_approver {self.regulated_approver!r} is not a declared department")
        for code in self.root_causes.codes:
            if code.department is not None and code.department not in ids:
                raise ValueError(f"cause code {code.code}: unknown department {code.department!r}")
        trees = [t.id for t in self.fault_trees]
        if len(set(trees)) != len(trees):
            raise ValueError("two fault trees share an id")
        paretos = {p.id for p in self.paretos}
        for code in self.root_causes.codes:
            if code.pareto is not None and code.pareto not in paretos:
                raise ValueError(f"cause code {code.code}: unknown pareto {code.pareto!r}")
        return self

    def pareto(self, pareto_id: str) -> OperationalPareto | None:
        return next((p for p in self.paretos if p.id == pareto_id), None)

    @field_validator("capacity")
    @classmethod
    def _capacity(cls, value: dict[str, float]) -> dict[str, float]:
        for resource, weeks in value.items():
            if weeks < 0:
                raise ValueError(f"capacity {resource!r}: weeks cannot be negative")
        return value

    def department(self, department_id: str) -> Department | None:
        return next((d for d in self.departments if d.id == department_id), None)

    def tree(self, tree_id: str) -> FaultTree | None:
        return next((t for t in self.fault_trees if t.id == tree_id), None)


class ChangeFile(Strict):
    """A change as a person declares it (``cxstream changes set-change ID --file change.yaml``)."""

    description: str = Field(min_length=3)
    departments: list[str] = Field(min_length=1, description="departments it touches: each one's owner approves")
    processes: list[str] = Field(default_factory=list, description="processes it touches")
    regulated: bool = Field(False, description="regulatory impact: the regulated approver approves too")
    procedure: str | None = Field(None, description="the procedure (playbook) it updates")
    procedure_version: str | None = Field(None, description="the version it brings")
    target_metrics: list[str] = Field(min_length=1, description="metric ids it should move (the verdict compares)")
    failure_modes: list[FailureMode] = Field(default_factory=list)
