"""What cxstream observes for the improvement loop: a metric's statistics over any period and scope (closed days
from the metric history, the last days from the live cells), the failure rate a fault tree's basic event
stands for, and the fault tree evaluated on those rates with their intervals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.cells import Cell
from cxstream.domain.metrics.measure import DETRACTOR
from cxstream.domain.metrics.spec import DAY_MS, SURVEY_INDICATORS, MetricDefinition, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient, wilson
from cxstream.domain.metrics.windows import stats_between
from cxstream.domain.remediation.fault_tree import (
    Evidence,
    FaultTree,
    RankedCutSet,
    TopProbability,
    minimal_cut_sets,
    ranked_cut_sets,
    top_probability,
)

LIVE_DAYS = 6  # the live cells answer for today and the six days before; older days come from the history


@dataclass(frozen=True)
class Observed:
    """A metric's statistics over a period and scope, and the driver counts among its detractors."""

    stats: Sufficient
    drivers: Mapping[str, int]


class MetricReader:
    """Reads any period of a definition: days before the live cells' reach from the history index (every origin
    merged, as the history view does), the rest from the live cells of every partition."""

    def __init__(self, spec: MetricsSpec, index: HistoryIndex | None, cells: Iterable[Cell], now_ms: int) -> None:
        self.spec = spec
        self.index = index
        self.cells = [c for c in cells]
        self.split_ms = (now_ms // DAY_MS - LIVE_DAYS) * DAY_MS

    def read(self, definition: str, start_ms: int, end_ms: int, where: Mapping[str, str] | None = None) -> Observed:
        stats, drivers = Sufficient(), dict[str, int]()
        filt = dict(where or {})
        if self.index is not None and start_ms < self.split_ms:
            for fact in self.index.facts(definition, DAY_MS, start_ms, min(end_ms, self.split_ms)):
                if fact.end_ms <= min(end_ms, self.split_ms) and fact.within(filt):
                    stats.merge(fact.stats)
                    for driver, count in fact.drivers.items():
                        drivers[driver] = drivers.get(driver, 0) + count
        if end_ms > self.split_ms:
            live, live_drivers = stats_between(self.spec, self.cells, definition, max(start_ms, self.split_ms), end_ms,
                                               filt)  # fmt: skip
            stats.merge(live)
            for driver, count in live_drivers.items():
                drivers[driver] = drivers.get(driver, 0) + count
        return Observed(stats, drivers)


@dataclass(frozen=True)
class Rate:
    """hits of n: how often a failure happened (SLA misses, detractors)."""

    hits: int
    n: int

    def interval(self, confidence: float) -> tuple[float, float]:
        return wilson(self.hits, self.n, confidence) if self.n else (0.0, 1.0)

    @property
    def share(self) -> float | None:
        return self.hits / self.n if self.n else None


def failure_rate(definition: MetricDefinition, stats: Sufficient, rate: str) -> Rate:
    """``miss``: measurements outside the SLA; ``detractor``: detractor answers (CSAT 1-2, CES 1-3, NPS 0-6);
    ``hit``: the counted trials of a rate (reopened tickets of those solved)."""
    if rate == "miss":
        return Rate(stats.n - stats.hits, stats.n)
    if rate == "hit":
        return Rate(stats.hits, stats.n)
    survey = SURVEY_INDICATORS.get(definition.indicator)
    if survey is None:
        raise ValueError(f"{definition.id} has no detractors")
    low, high = DETRACTOR[survey]
    return Rate(stats.count_between(low, high), stats.responses)


@dataclass(frozen=True)
class EventEvidence:
    name: str
    display: str
    source: str  # observed, declared (an estimate in the YAML), or insufficient (too few observations, no estimate)
    probability: float | None
    low: float | None
    high: float | None
    hits: int | None = None
    n: int | None = None
    metric: str | None = None
    where: Mapping[str, str] | None = None


@dataclass(frozen=True)
class TreeView:
    tree: FaultTree
    events: tuple[EventEvidence, ...]
    cut_sets: tuple[RankedCutSet, ...]
    top: TopProbability | None  # None while a basic event has neither enough observations nor an estimate
    top_low: float | None  # the top event at every event's interval's lower end (the tree is coherent)
    top_high: float | None
    start_ms: int
    end_ms: int


def tree_view(
    tree: FaultTree,
    metrics: MetricsSpec,
    reader: MetricReader,
    start_ms: int,
    end_ms: int,
    *,
    confidence: float,
    min_n: int,
) -> TreeView:
    """The tree on this period's evidence: each observed basic event's rate with its interval (its declared
    estimate where the observations are fewer than ``min_n``), the cut sets ranked by probability, and the
    top event's probability with the range it takes over the events' intervals."""
    events = []
    for name, event in tree.events.items():
        display = tree.name_of(name)
        if event.evidence is not None:
            found = _observe(metrics, reader, event.evidence, start_ms, end_ms)
            if found.n >= min_n:
                low, high = found.interval(confidence)
                events.append(EventEvidence(name, display, "observed", found.share, low, high, found.hits, found.n,
                                            event.evidence.metric, dict(event.evidence.where)))  # fmt: skip
                continue
            if event.probability is None:
                events.append(EventEvidence(name, display, "insufficient", None, None, None, found.hits, found.n,
                                            event.evidence.metric, dict(event.evidence.where)))  # fmt: skip
                continue
        p = event.probability
        if event.evidence is not None:  # observed too rarely yet: the estimate stands in, the observations shown
            events.append(EventEvidence(name, display, "declared", p, p, p, found.hits, found.n, event.evidence.metric,
                                        dict(event.evidence.where)))  # fmt: skip
            continue
        events.append(EventEvidence(name, display, "declared", p, p, p))
    cuts = minimal_cut_sets(tree)
    if any(e.probability is None for e in events):
        return TreeView(tree, tuple(events), (), None, None, None, start_ms, end_ms)
    point = {e.name: float(e.probability or 0.0) for e in events}
    lows = {e.name: float(e.low if e.low is not None else e.probability or 0.0) for e in events}
    highs = {e.name: float(e.high if e.high is not None else e.probability or 0.0) for e in events}
    top = top_probability(tree, point, cuts)
    return TreeView(tree, tuple(events), tuple(ranked_cut_sets(cuts, point)), top,
                    top_probability(tree, lows, cuts).best, top_probability(tree, highs, cuts).best, start_ms,
                    end_ms)  # fmt: skip


def _observe(metrics: MetricsSpec, reader: MetricReader, evidence: Evidence, start_ms: int, end_ms: int) -> Rate:
    definition = metrics.definition(evidence.metric)
    observed = reader.read(evidence.metric, start_ms, end_ms, evidence.where)
    return failure_rate(definition, observed.stats, evidence.rate)
