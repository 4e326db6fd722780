"""Required staff per queue and interval: the forecast's arrivals and handle time through Erlang C (or Erlang A
when the queue declares a patience), for the point forecast and for the top of its prediction interval."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from cxstream.domain.workforce.erlang import Demand, ServiceTarget, Staffing, required
from cxstream.domain.workforce.forecast import Forecast, IntervalForecast


@dataclass(frozen=True)
class IntervalStaffing:
    forecast: IntervalForecast
    staffing: Staffing | None  # None: no forecast (too little history) or no handle time
    agents_high: int | None  # agents for the top of the prediction interval

    @property
    def agents(self) -> int | None:
        return self.staffing.agents if self.staffing else None

    @property
    def positions(self) -> int | None:
        return self.staffing.positions if self.staffing else None


def staffing_plan(forecast: Forecast, target: ServiceTarget, patience_s: float | None) -> tuple[IntervalStaffing, ...]:
    interval_s = forecast.step_ms / 1000
    out = []
    for one in forecast.intervals:
        if one.arrivals is None or one.handle_s is None or one.high is None:
            out.append(IntervalStaffing(one, None, None))
            continue
        point = _required(round(one.arrivals, 3), interval_s, round(one.handle_s, 1), patience_s, target)
        high = _required(round(one.high, 3), interval_s, round(one.handle_s, 1), patience_s, target)
        out.append(IntervalStaffing(one, point, high.agents))
    return tuple(out)


@lru_cache(maxsize=4096)
def _required(
    contacts: float, interval_s: float, handle_s: float, patience_s: float | None, target: ServiceTarget
) -> Staffing:
    return required(Demand(contacts, interval_s, handle_s, patience_s), target)
