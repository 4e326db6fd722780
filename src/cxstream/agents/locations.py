"""Variance across locations on the routing side: once a day is final (past midnight plus the metrics' grace), the
routing agent's tick reviews it from this worker's copy of the metric history (every worker reads it whole) and
the execution gaps become breaches that the routing desk sends on like any other. The open gaps and the last
day reviewed live in a one-partition table, so a restart neither repeats nor forgets a review."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import faust

from cxstream.agents.stores import Store
from cxstream.domain.alerting.records import Breach
from cxstream.domain.base import Json, as_int, obj
from cxstream.domain.catalog import Tables
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.locations.gaps import SiteGapState, day_to_review, judge_day
from cxstream.domain.locations.spec import Locations
from cxstream.domain.locations.variance import DayReview, review_day, rule_false_alarm_rate
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.observability.logging import get_logger

GAPS_TABLE = Tables.EXECUTION_GAPS
REVIEWED = "~reviewed"  # the key holding the last day reviewed
log = get_logger(__name__)


class SiteWatch:
    def __init__(self, app: faust.App, metrics: MetricsSpec, spec: Locations, regions: Mapping[str, str],
                 names: Mapping[str, str], index: Callable[[], HistoryIndex | None]) -> None:  # fmt: skip
        self.metrics = metrics
        self.spec = spec
        self.regions = dict(regions)
        self.names = dict(names)
        self.index = index
        self.table = Store(app.Table(GAPS_TABLE, default=None, key_type=str, value_type=None, partitions=1),
                           _decode, _encode)  # fmt: skip
        self.last_review: DayReview | None = None
        # the watched rules' false-alarm rate is simulated once (about 0.75 s of CPU, then cached): here, before the
        # worker takes traffic, rather than in the routing agent's first round
        rule_false_alarm_rate(tuple(spec.variance.rules))

    def evaluate(self, now_ms: int) -> list[Breach]:
        """Review the last final day if it has not been: the breaches to publish (the states are saved)."""
        index = self.index()
        if index is None:
            return []
        day = day_to_review(now_ms, self.metrics.grace_ms)
        through = index.coverage().through_ms
        if through is not None and through < day + DAY_MS:
            return []  # the live partitions have not closed that day yet
        reviewed = self.table.get(REVIEWED)
        if isinstance(reviewed, int) and reviewed >= day:
            return []
        review = review_day(self.metrics, index, self.spec, day, self.names)
        states = {k: v for k, v in self.table.items() if k != REVIEWED and isinstance(v, SiteGapState)}
        new_states, breaches = judge_day(review, states, self.spec, self.regions, now_ms)
        for key, state in new_states.items():
            if states.get(key) != state:
                self.table[key] = state
        self.table[REVIEWED] = day
        self.last_review = review
        log.info("locations_reviewed", day_ms=day, gaps=len(review.gaps), comparisons=review.comparisons,
                 expected_noise=round(review.expected_noise, 3))  # fmt: skip
        return breaches


def _decode(data: object) -> SiteGapState | int:
    if isinstance(data, int):
        return data
    value = obj(data, "execution gap entry")
    if "day_ms" in value:
        return as_int(value["day_ms"])
    return SiteGapState.from_json(value)


def _encode(value: SiteGapState | int) -> Json:
    return {"day_ms": value} if isinstance(value, int) else value.to_json()
