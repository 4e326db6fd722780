"""Experiments with control groups on operational changes.

An experiment names its hypothesis, its target metrics (shares), the unit of assignment (customer, ticket, agent,
team or site), its arms with their allocation (the first is the control), when it starts and the sample it plans.
A unit's arm is a salted hash anyone can reproduce from the id: the first 15 hex digits of
sha256("<salt>|<unit id>") as a fraction of 16^15, against the arms' cumulative allocation.

Normalization tags each event of an assigned unit, while the experiment runs, with the attribute
``arm:<metric>`` = ``<experiment>/<arm>`` for each target metric; the metrics keep ``arm`` as a dimension, so the
live tables and the metric history split them by arm like by region. One running experiment per metric at a
time, so a metric's arm is never ambiguous.

The analysis puts each arm's answers together (closed days from the history, the live part summed by every
worker over its partitions, as the remediation verdicts do), checks the sample ratio of the answers against the
allocation, and compares every arm with the control: an anytime-valid confidence sequence (valid however often
it is read; the default) or a fixed-horizon interval read at the planned sample.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from cxstream.domain.base import Record, as_float, as_int, as_str, as_time, obj, opt_str, seq, to_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.impact.planning import Srm, srm
from cxstream.domain.impact.sequential import DEFAULT_TUNING, Interval, difference
from cxstream.domain.ingest.events import CanonicalEvent
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient
from cxstream.domain.remediation.checks import EvidenceBook, SideStats, Wanted, assemble
from cxstream.domain.remediation.evidence import LIVE_DAYS
from cxstream.domain.remediation.verdict import measured

ARM = "arm"  # the metric dimension, and the attribute prefix: arm:<metric>
UNITS = ("customer", "ticket", "agent", "team", "site")
SCALE = 16**15


class Method(StrEnum):
    SEQUENTIAL = "sequential"
    FIXED = "fixed"


@dataclass(frozen=True)
class Arm:
    name: str
    weight: float


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    title: str
    hypothesis: str
    metrics: tuple[str, ...]
    unit: str
    arms: tuple[Arm, ...]
    salt: str
    start_ms: int
    created_by: str
    end_ms: int | None = None
    planned_per_arm: int | None = None
    method: Method = Method.SEQUENTIAL
    stopped_by: str | None = None
    decision: str | None = None

    @property
    def control(self) -> Arm:
        return self.arms[0]

    def running_at(self, at_ms: int) -> bool:
        return self.start_ms <= at_ms and (self.end_ms is None or at_ms < self.end_ms)

    def arm_label(self, arm: str) -> str:
        return f"{self.experiment_id}/{arm}"

    def record(self) -> Record:
        return {
            "experiment_id": self.experiment_id, "title": self.title, "hypothesis": self.hypothesis,
            "metrics": list(self.metrics), "unit": self.unit,
            "arms": [{"name": a.name, "weight": a.weight} for a in self.arms], "salt": self.salt,
            "start": _dt(self.start_ms), "end": _dt(self.end_ms) if self.end_ms is not None else None,
            "planned_per_arm": self.planned_per_arm, "method": self.method.value, "created_by": self.created_by,
            "stopped_by": self.stopped_by, "decision": self.decision,
        }  # fmt: skip

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> Experiment:
        end = record.get("end")
        planned = record.get("planned_per_arm")
        return cls(
            experiment_id=as_str(record["experiment_id"], "experiment_id"), title=as_str(record["title"], "title"),
            hypothesis=as_str(record["hypothesis"], "hypothesis"),
            metrics=tuple(as_str(m, "metrics") for m in seq(record["metrics"], "metrics")),
            unit=as_str(record["unit"], "unit"),
            arms=tuple(Arm(as_str(obj(a)["name"], "arm"), as_float(obj(a)["weight"], "weight"))
                       for a in seq(record["arms"], "arms")),
            salt=as_str(record["salt"], "salt"), start_ms=to_ms(as_time(record["start"], "start")),
            created_by=as_str(record["created_by"], "created_by"),
            end_ms=to_ms(as_time(end, "end")) if end is not None else None,
            planned_per_arm=as_int(planned, "planned_per_arm") if planned is not None else None,
            method=Method(as_str(record.get("method") or "sequential", "method")),
            stopped_by=opt_str(record.get("stopped_by"), "stopped_by"), decision=opt_str(record.get("decision")),
        )  # fmt: skip


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def bucket(salt: str, unit_id: str) -> float:
    """The unit's place in [0, 1): reproducible by anyone from the salt and the id."""
    return int(hashlib.sha256(f"{salt}|{unit_id}".encode()).hexdigest()[:15], 16) / SCALE


def assign(experiment: Experiment, unit_id: str) -> str:
    """The arm of a unit: its bucket against the arms' cumulative allocation."""
    place = bucket(experiment.salt, unit_id) * sum(a.weight for a in experiment.arms)
    edge = 0.0
    for arm in experiment.arms:
        edge += arm.weight
        if place < edge:
            return arm.name
    return experiment.arms[-1].name


def unit_of(unit: str, event: CanonicalEvent) -> str | None:
    if unit == "customer":
        return event.customer_id
    if unit == "ticket":
        return event.operation.ticket_id if event.operation is not None else None
    if unit == "agent":
        return event.agent_id
    if unit == "team":
        return event.team
    return event.site


def tags(experiments: Iterable[Experiment], event: CanonicalEvent) -> dict[str, str]:
    """The ``arm:<metric>`` attributes an event gets from the experiments running at its time."""
    out: dict[str, str] = {}
    at = to_ms(event.event_time)
    for experiment in experiments:
        if not experiment.running_at(at):
            continue
        unit = unit_of(experiment.unit, event)
        if not unit:
            continue
        label = experiment.arm_label(assign(experiment, unit))
        for metric in experiment.metrics:
            out.setdefault(f"{ARM}:{metric}", label)
    return out


class Refused(ValueError):
    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id = rule_id


def check_new(experiment: Experiment, metrics: MetricsSpec, running: Iterable[Experiment]) -> None:
    """Raises :class:`Refused` for an experiment that cannot start as given."""
    if not experiment.title.strip() or not experiment.hypothesis.strip():
        raise Refused("experiment.text", "a title and a hypothesis are required")
    if experiment.unit not in UNITS:
        raise Refused("experiment.unit", f"the unit is one of {', '.join(UNITS)}")
    names = [a.name for a in experiment.arms]
    if len(names) < 2 or len(set(names)) != len(names) or any(not n.strip() or "/" in n for n in names):
        raise Refused("experiment.arms", "two or more arms with different names (no '/')")
    if any(a.weight <= 0 for a in experiment.arms):
        raise Refused("experiment.arms", "every arm's allocation is positive")
    if not experiment.metrics:
        raise Refused("experiment.metrics", "name the metrics the experiment should move")
    for metric in experiment.metrics:
        try:
            definition = metrics.definition(metric)
        except KeyError:
            raise Refused("experiment.metrics", f"no metric {metric!r}") from None
        if measured(definition, Sufficient()) is None:
            raise Refused("experiment.metrics", f"{metric} is not a share or NPS an experiment can compare")
        if ARM not in definition.dimensions:
            raise Refused("experiment.metrics", f"{metric} does not keep the arm dimension: add arm to its "
                                                "dimensions in metrics.yaml")  # fmt: skip
    for other in running:
        if other.experiment_id == experiment.experiment_id:
            raise Refused("experiment.id", f"experiment {experiment.experiment_id} exists")
        overlap = set(other.metrics) & set(experiment.metrics)
        if other.end_ms is None and overlap:
            raise Refused("experiment.overlap", f"{other.experiment_id} already runs on {', '.join(sorted(overlap))}"
                                                " (one running experiment per metric)")  # fmt: skip


@dataclass
class ExperimentBook:
    """The experiments folded from ``cx.experiments``: the latest record of each wins."""

    experiments: dict[str, Experiment] = field(default_factory=dict)

    def add(self, experiment: Experiment) -> None:
        self.experiments[experiment.experiment_id] = experiment

    def running(self, at_ms: int) -> list[Experiment]:
        return [e for e in self.experiments.values() if e.running_at(at_ms)]


def stopped(experiment: Experiment, by: str, at_ms: int, decision: str) -> Experiment:
    return replace(experiment, end_ms=at_ms, stopped_by=by, decision=decision)


def settled(experiment: Experiment, now_ms: int) -> bool:
    """Stopped long enough ago that the metric history holds all of it (no live part to sum)."""
    return experiment.end_ms is not None and experiment.end_ms < (now_ms // DAY_MS - LIVE_DAYS) * DAY_MS


def wants(experiment: Experiment, finest_ms: int, now_ms: int) -> list[Wanted]:
    """Each arm's answers on each metric since the start (up to the stop), ends cut to the finest bucket."""
    end = min(now_ms, experiment.end_ms) if experiment.end_ms is not None else now_ms
    end -= end % finest_ms
    if end <= experiment.start_ms:
        return []
    return [
        Wanted(f"exp:{experiment.experiment_id}", metric, {ARM: experiment.arm_label(arm.name)}, arm.name,
               experiment.start_ms, end, experiment.start_ms)
        for metric in experiment.metrics for arm in experiment.arms
    ]  # fmt: skip


@dataclass(frozen=True)
class ArmResult:
    arm: str
    value: float | None  # the share (or NPS fraction)
    n: int


@dataclass(frozen=True)
class ArmComparison:
    arm: str
    interval: Interval  # arm - control, as a fraction
    fixed: Interval  # the fixed-horizon interval beside it


@dataclass(frozen=True)
class MetricResult:
    metric: str
    label: str
    arms: tuple[ArmResult, ...]
    comparisons: tuple[ArmComparison, ...]
    srm: Srm | None  # of the answers per arm against the allocation


@dataclass(frozen=True)
class ExperimentResult:
    experiment: Experiment
    metrics: tuple[MetricResult, ...]
    waiting: int  # arms not yet reported by every partition
    decision: str  # "effect", "no effect", "keep running", "sample-ratio mismatch", "not yet"
    summary: str


def _side(want: Wanted, index: HistoryIndex | None, book: EvidenceBook, history_only: bool) -> SideStats | None:
    if not history_only:
        return assemble(want, index, book)
    stats = Sufficient()
    if index is not None:
        for fact in index.facts(want.metric, DAY_MS, want.start_ms, want.end_ms):
            if fact.within(want.where):
                stats.merge(fact.stats)
    return SideStats(stats, want.start_ms, want.end_ms)


def analyse(experiment: Experiment, metrics: MetricsSpec, index: HistoryIndex | None, book: EvidenceBook,
            alpha: float, now_ms: int, tuning: float = DEFAULT_TUNING) -> ExperimentResult:  # fmt: skip
    """Every target metric's arms against the control, as far as the partials heard allow (an experiment
    stopped before the live days is read from the metric history alone)."""
    history_only = settled(experiment, now_ms)
    wanted = wants(experiment, metrics.finest_ms, experiment.end_ms if history_only and experiment.end_ms else now_ms)
    results, waiting = [], 0
    for metric in experiment.metrics:
        definition = metrics.definition(metric)
        per_arm: dict[str, tuple[float | None, int]] = {}
        for want in wanted:
            if want.metric != metric or want.item_id != f"exp:{experiment.experiment_id}":
                continue
            side = _side(want, index, book, history_only)
            if side is None:
                waiting += 1
                continue
            m = measured(definition, side.stats)
            per_arm[want.side] = (m.value if m is not None else None, m.n if m is not None else 0)
        arms = tuple(ArmResult(a.name, *per_arm.get(a.name, (None, 0))) for a in experiment.arms)
        base = arms[0]
        comparisons = []
        for arm in arms[1:]:
            if base.value is None or arm.value is None:
                continue
            comparisons.append(ArmComparison(
                arm.arm,
                difference(base.value, base.n, arm.value, arm.n, alpha,
                           experiment.method is Method.SEQUENTIAL, tuning),
                difference(base.value, base.n, arm.value, arm.n, alpha, False),
            ))  # fmt: skip
        ratio = srm([a.n for a in arms], [a.weight for a in experiment.arms]) if all(a.n for a in arms) else None
        probe = measured(definition, Sufficient())
        results.append(MetricResult(metric, probe.label if probe else metric, arms, tuple(comparisons), ratio))
    decision, summary = _decide(experiment, results, waiting)
    return ExperimentResult(experiment, tuple(results), waiting, decision, summary)


def _decide(experiment: Experiment, results: Sequence[MetricResult], waiting: int) -> tuple[str, str]:
    if waiting:
        return "not yet", f"waiting for {waiting} arm sums from the workers"
    if any(r.srm is not None and r.srm.alarm for r in results):
        bad = next(r for r in results if r.srm is not None and r.srm.alarm)
        assert bad.srm is not None
        return "sample-ratio mismatch", f"{bad.metric}: {bad.srm.summary}"
    smallest = min((a.n for r in results for a in r.arms), default=0)
    planned = experiment.planned_per_arm
    reached = planned is not None and smallest >= planned
    if experiment.method is Method.FIXED and not reached:
        return "keep running", f"fixed horizon: {smallest:,} of {planned or '?'} answers per arm so far"
    found = [(r, c) for r in results for c in r.comparisons if c.interval.excludes_zero]
    if found:
        parts = [f"{r.metric} {c.arm} {100 * c.interval.estimate:+.1f} points ({c.interval.method} "
                 f"{100 * c.interval.low:+.1f} to {100 * c.interval.high:+.1f})" for r, c in found]  # fmt: skip
        return "effect", "; ".join(parts)
    if reached:
        return "no effect", f"{smallest:,} answers per arm reached the plan without an interval excluding zero"
    return "keep running", f"no interval excludes zero yet ({smallest:,} answers in the smallest arm" + (
        f" of {planned:,} planned)" if planned else ")"
    )
