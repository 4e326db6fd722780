"""Bands of an operational value on a survey answer: what normalization tags, what the history keeps per band,
and how a band's label reads back as its bounds.

A survey answer knows its operational value when the source sends it with the answer (a delivery survey with
the order's promised and actual arrival, as survey platforms embed order data) or when normalization has seen
the ticket the rating is about (its first reply and its solving, remembered per ticket). Labels are the band's
bounds in the operational metric's unit: ``<-24``, ``-24..0``, ``0..4``, ..., ``>=72``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from cxstream.domain.base import to_ms
from cxstream.domain.ingest.events import CanonicalEvent, EventType
from cxstream.domain.metrics.spec import DURATION_UNITS_MS, Indicator, MetricsSpec
from cxstream.domain.tolerance.spec import BANDED, ToleranceSpec

#: What normalization adds to a rating of a known ticket (from the ticket's memory).
FIRST_REPLY_ATTRIBUTE = "first_reply_minutes"
RESOLUTION_ATTRIBUTE = "resolution_hours"


def operational_value(indicator: Indicator, event: CanonicalEvent) -> float | None:
    """The operational value a survey answer carries, in the indicator's unit, or None."""
    op = event.operation
    if indicator is Indicator.DELIVERY_DELAY:
        if op is None or op.promised_at is None or op.actual_at is None:
            return None
        return (to_ms(op.actual_at) - to_ms(op.promised_at)) / DURATION_UNITS_MS[indicator]
    if indicator is Indicator.FIRST_RESPONSE:
        return _number(event.attributes.get(FIRST_REPLY_ATTRIBUTE))
    if indicator is Indicator.RESOLUTION:
        known = _number(event.attributes.get(RESOLUTION_ATTRIBUTE))
        if known is not None or op is None or op.promised_at is not None:
            return known
        if op.created_at is None or op.actual_at is None:
            return None
        return (to_ms(op.actual_at) - to_ms(op.created_at)) / DURATION_UNITS_MS[indicator]
    return None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _edge(value: float) -> str:
    return f"{value:g}"


def band_label(value: float, edges: Sequence[float]) -> str:
    """The band ``value`` falls in: below the first edge, between two (lower bound included), or from the last."""
    if value < edges[0]:
        return f"<{_edge(edges[0])}"
    for low, high in pairwise(edges):
        if value < high:
            return f"{_edge(low)}..{_edge(high)}"
    return f">={_edge(edges[-1])}"


@dataclass(frozen=True)
class Band:
    """One band's bounds (None: open) and the value that stands for it on a chart and in the fit."""

    low: float | None
    high: float | None
    middle: float

    @property
    def label(self) -> str:
        if self.low is None:
            return f"<{_edge(self.high or 0.0)}"
        if self.high is None:
            return f">={_edge(self.low)}"
        return f"{_edge(self.low)}..{_edge(self.high)}"


def bands_of(edges: Sequence[float]) -> list[Band]:
    """Every band of ``edges`` in order; an open band stands at half a neighbour's width beyond its edge."""
    first, last = edges[1] - edges[0], edges[-1] - edges[-2]
    out = [Band(None, edges[0], edges[0] - first / 2)]
    out.extend(Band(low, high, (low + high) / 2) for low, high in pairwise(edges))
    out.append(Band(edges[-1], None, edges[-1] + last / 2))
    return out


def parse_band(label: str, edges: Sequence[float]) -> Band | None:
    """The band a label names, when it is one of ``edges``' bands."""
    return next((b for b in bands_of(edges) if b.label == label), None)


class Bands:
    """The band edges of each operational indicator a tolerance pair weighs, and the tagging of answers."""

    def __init__(self, edges: Mapping[Indicator, Sequence[float]]) -> None:
        self.edges = {indicator: tuple(e) for indicator, e in edges.items()}

    @classmethod
    def of(cls, spec: ToleranceSpec, metrics: MetricsSpec) -> Bands:
        edges: dict[Indicator, Sequence[float]] = {}
        known = {d.id: d for d in metrics.definitions}
        for pair in spec.pairs:
            definition = known.get(pair.operational)
            if definition is not None and definition.indicator in BANDED:
                edges.setdefault(definition.indicator, pair.edges)
        return cls(edges)

    def __bool__(self) -> bool:
        return bool(self.edges)

    def tags(self, event: CanonicalEvent) -> dict[str, str]:
        """The band attributes of a survey answer (none for other events, or for values it does not carry)."""
        if event.event_type is not EventType.SURVEY_RESPONSE:
            return {}
        out = {}
        for indicator, edges in self.edges.items():
            value = operational_value(indicator, event)
            if value is not None:
                out[BANDED[indicator][0]] = band_label(value, edges)
        return out
