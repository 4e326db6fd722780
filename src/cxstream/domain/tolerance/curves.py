"""Tolerance curves from the metric history: a pair's satisfaction definition, per band of the operational value,
added up over the pair's lookback of closed days, over all and per value of each scope dimension."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient
from cxstream.domain.remediation.verdict import measured
from cxstream.domain.tolerance.bands import bands_of
from cxstream.domain.tolerance.estimate import BandCount, Tolerance, estimate, sentence
from cxstream.domain.tolerance.spec import BANDED, TolerancePair, ToleranceSpec


@dataclass(frozen=True)
class ToleranceCurve:
    """One pair's estimate in one scope (``{}``: over all)."""

    pair: str
    scope: Mapping[str, str]
    operational: str  # the operational metric's id
    operational_label: str  # e.g. "Delivery delay"
    unit: str  # of the operational value
    satisfaction: str
    satisfaction_label: str  # what counts as satisfied, e.g. "CSAT" or "easy answers (CES 5-7)"
    start_ms: int
    end_ms: int
    tolerance: Tolerance
    summary: str


def _who(scope: Mapping[str, str], names: Mapping[str, str]) -> str:
    if not scope:
        return "Customers"
    value = next(iter(scope.values()))
    return f"Customers in {names.get(value, value.upper() if len(value) <= 4 else value)}"


def curves(spec: ToleranceSpec, pair: TolerancePair, metrics: MetricsSpec, index: HistoryIndex, now_ms: int,
           names: Mapping[str, str] | None = None,
           only: Mapping[str, str] | None = None) -> list[ToleranceCurve]:  # fmt: skip
    """The pair's curve over all and per scope value seen in the history (``only``: that scope alone)."""
    operational = metrics.definition(pair.operational)
    satisfaction = metrics.definition(pair.satisfaction)
    band_dim, unit = BANDED[operational.indicator]
    probe = measured(satisfaction, Sufficient())
    if probe is None:
        raise ValueError(f"{pair.satisfaction} is not a share a tolerance curve can weigh")
    end = now_ms // DAY_MS * DAY_MS
    start = end - parse_duration_ms(pair.lookback)
    per_scope: dict[tuple[tuple[str, str], ...], dict[str, Sufficient]] = {}
    for fact in index.facts(pair.satisfaction, DAY_MS, start, end):
        band = fact.value_of(band_dim)
        scopes: list[tuple[tuple[str, str], ...]] = [()]
        scopes.extend(((dim, fact.value_of(dim)),) for dim in pair.scope_by)
        for scope in scopes:
            per_scope.setdefault(scope, {}).setdefault(band, Sufficient()).merge(fact.stats)
    wanted = tuple(sorted((only or {}).items()))
    order = [(b.label, b.middle) for b in bands_of(pair.edges)]
    out = []
    for scope, per_band in sorted(per_scope.items()):
        if only is not None and scope != wanted:
            continue
        if any(value == "-" for _, value in scope):
            continue  # answers without the scope's value count in "over all" only
        counts = []
        for label, middle in order:
            stats = per_band.get(label)
            m = measured(satisfaction, stats) if stats is not None else None
            if m is not None and m.n:
                counts.append(BandCount(label, middle, m.hits, m.n))
        seed = sum(ord(c) for c in pair.id + repr(scope))  # the same history gives the same interval
        found = estimate(counts, pair.drop_points, higher_is_better=probe.higher_is_better,
                         confidence=spec.confidence, alpha=spec.alpha, resamples=spec.resamples, min_n=pair.min_n,
                         seed=seed)  # fmt: skip
        where = dict(scope)
        text = sentence(found, _who(where, names or {}), operational.title.lower(), unit)
        out.append(ToleranceCurve(pair.id, where, operational.id, operational.title, unit, satisfaction.id,
                                  probe.label, start, end, found, text))  # fmt: skip
    return out
