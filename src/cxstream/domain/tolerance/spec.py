"""``tolerance:`` in the topology (``topologies/tolerance.yaml``): which operational metric is weighed against
which satisfaction metric on the same journey stage, in which bands of the operational value, and how far
satisfaction must fall from its plateau before customers are said to no longer tolerate it.

A pair names a satisfaction definition that keeps the pair's band dimension (e.g. ``csat.delivery.by-delay``
with ``delay_band``): normalization tags each survey answer that knows its operational value (a delivery's
promise and arrival, a ticket's first reply and solving) with the band it falls in, so the metric tables and
the history keep satisfaction per band, like any other dimension.
"""

from __future__ import annotations

import math
from itertools import pairwise

from pydantic import Field, field_validator, model_validator

from cxstream.domain.base import Strict
from cxstream.domain.metrics.spec import BAND_DIMENSIONS, Indicator, MetricsSpec

#: The operational indicators a band can be taken from, the band dimension each fills, and its unit.
BANDED: dict[Indicator, tuple[str, str]] = {
    Indicator.DELIVERY_DELAY: ("delay_band", "h"),
    Indicator.FIRST_RESPONSE: ("first_response_band", "min"),
    Indicator.RESOLUTION: ("resolution_band", "h"),
}
assert {band for band, _ in BANDED.values()} == set(BAND_DIMENSIONS)


class TolerancePair(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9.-]{1,60}$")
    operational: str = Field(description="an operational metric (delivery_delay, first_response, resolution)")
    satisfaction: str = Field(description="a CSAT or CES definition that keeps the operational metric's band")
    edges: tuple[float, ...] = Field(min_length=3, description="band edges in the operational metric's unit")
    drop_points: float = Field(5.0, gt=0, le=50, description="customers no longer tolerate the value where "
                                                             "satisfaction has fallen this many points")  # fmt: skip
    scope_by: tuple[str, ...] = Field(("region",), description="estimated per scope (and over all)")
    lookback: str = Field("365d", description="history read for the estimate")
    min_n: int = Field(200, ge=20, description="fewer answers in a scope: no estimate")

    @field_validator("edges")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not math.isfinite(v) for v in value) or any(b <= a for a, b in pairwise(value)):
            raise ValueError("band edges must be finite and strictly increasing")
        return value

    @model_validator(mode="after")
    def _scope(self) -> TolerancePair:
        if len(set(self.scope_by)) != len(self.scope_by):
            raise ValueError("a scope dimension is listed twice")
        return self


class ToleranceSpec(Strict):
    pairs: tuple[TolerancePair, ...] = ()
    confidence: float = Field(0.95, gt=0.5, lt=1)
    alpha: float = Field(0.05, gt=0, lt=0.5, description="a fall is claimed only when the test of no fall says "
                                                         "p below this")  # fmt: skip
    resamples: int = Field(400, ge=100, le=5000, description="bootstrap resamples for the tolerance point's interval")

    def pair(self, pair_id: str) -> TolerancePair:
        for pair in self.pairs:
            if pair.id == pair_id:
                return pair
        raise KeyError(pair_id)


def check_pairs(spec: ToleranceSpec, metrics: MetricsSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """Each pair weighs a banded operational metric against a CSAT or CES definition that keeps its band and
    scopes; pairs of one operational indicator share their edges (one band dimension, one set of labels)."""
    definitions = {d.id: d for d in metrics.definitions}
    edges_of: dict[Indicator, tuple[float, ...]] = {}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for i, pair in enumerate(spec.pairs):
        loc: tuple[str | int, ...] = ("tolerance", "pairs", i)
        operational = definitions.get(pair.operational)
        if operational is None or operational.indicator not in BANDED:
            problems.append(((*loc, "operational"), f"{pair.operational!r} is not a metric of "
                             f"{', '.join(i.value for i in BANDED)}"))  # fmt: skip
            continue
        band = BANDED[operational.indicator][0]
        satisfaction = definitions.get(pair.satisfaction)
        if satisfaction is None or satisfaction.indicator not in (Indicator.CSAT, Indicator.CES):
            problems.append(((*loc, "satisfaction"), f"{pair.satisfaction!r} is not a CSAT or CES metric"))
            continue
        if band not in satisfaction.dimensions:
            problems.append(((*loc, "satisfaction"), f"{pair.satisfaction} does not keep {band}: add it to its "
                             "dimensions"))  # fmt: skip
        for j, name in enumerate(pair.scope_by):
            if name not in satisfaction.dimensions:
                problems.append(((*loc, "scope_by", j), f"{pair.satisfaction} does not keep {name}"))
        first = edges_of.setdefault(operational.indicator, pair.edges)
        if first != pair.edges:
            problems.append(((*loc, "edges"), f"pairs on {operational.indicator.value} must share their edges "
                             f"({list(first)})"))  # fmt: skip
    return problems
