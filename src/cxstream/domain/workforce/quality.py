"""The cost of quality: for a queue's complex contacts, how CSAT goes with the time agents spend on them, next to
what a longer handle time costs in staff. A trade-off curve, not a verdict.

- **CSAT against handle time**, from the queue's solved tickets of the chosen tiers that were rated: CSAT per
  handle-time fifth (Wilson intervals, n), and a logistic regression of a good rating (4-5) on handle minutes
  (maximum likelihood with scipy; the curve's interval by the delta method on the logit scale). Observational:
  tickets that take longer may be harder, so the slope is an association, not what allowing more time would do.
- **Staffing cost of each allowed handle time**: the queue's 7-day forecast staffed again (Erlang C or A, its
  target) with the tiers' handle time moved to the allowed one (the queue's handle time moves by the tiers'
  share of its solved tickets): the agents needed at the busiest interval, and the agent hours a week, paid
  hours after shrinkage and cost a month (x 52/12) at the declared hourly cost, against today's handle time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from cxstream.domain.base import from_ms, to_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import wilson, z_value
from cxstream.domain.workforce.erlang import Demand, required
from cxstream.domain.workforce.queues import QueuePlan, queue_plan
from cxstream.domain.workforce.spec import QualitySpec, Queue, Workforce
from cxstream.domain.workforce.tickets import TicketLife

WEEKS_PER_MONTH = 52 / 12
#: Days of solved tickets the relation is read from, and days of forecast the cost is priced on.
WINDOW_DAYS = 28
PRICED_DAYS = 7
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Logistic:
    """P(good) = expit(intercept + slope x), with the estimates' covariance."""

    intercept: float
    slope: float
    cov: tuple[tuple[float, float], tuple[float, float]]
    n: int

    @property
    def slope_se(self) -> float:
        return math.sqrt(self.cov[1][1])

    def predict(self, x: float, confidence: float) -> tuple[float, float, float]:
        """The probability at ``x`` and its interval (delta method on the logit)."""
        eta = self.intercept + self.slope * x
        var = self.cov[0][0] + 2 * x * self.cov[0][1] + x * x * self.cov[1][1]
        half = z_value(confidence) * math.sqrt(max(var, 0.0))
        return _expit(eta), _expit(eta - half), _expit(eta + half)


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def fit_logistic(x: Sequence[float], y: Sequence[int]) -> Logistic | None:
    """Maximum-likelihood logistic regression of ``y`` (0/1) on ``x``; None when it cannot be fitted (fewer than
    two outcomes of each kind, no spread in x, or separation)."""
    import numpy as np
    from scipy import optimize, special

    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(xs) < 4 or ys.sum() < 2 or (1 - ys).sum() < 2 or float(np.std(xs)) == 0:
        return None
    centre, scale = float(np.mean(xs)), float(np.std(xs))
    design = np.column_stack([np.ones_like(xs), (xs - centre) / scale])

    def nll(b: np.ndarray) -> float:
        z = design @ b
        return float(-np.sum(ys * z - np.logaddexp(0, z)))

    def grad(b: np.ndarray) -> np.ndarray:
        return np.asarray(-(design.T @ (ys - special.expit(design @ b))))

    fit = optimize.minimize(nll, np.zeros(2), jac=grad, method="BFGS", options={"gtol": 1e-10})
    b = fit.x
    p = special.expit(design @ b)
    info = design.T @ (design * (p * (1 - p))[:, None])
    if not np.all(np.isfinite(b)) or abs(b[1]) > 50 or np.linalg.cond(info) > 1e12:
        return None
    cov_std = np.linalg.inv(info)
    # back to the original x: intercept = b0 - b1 centre / scale, slope = b1 / scale
    transform = np.array([[1.0, -centre / scale], [0.0, 1 / scale]])
    cov = transform @ cov_std @ transform.T
    intercept, slope = transform @ b
    return Logistic(float(intercept), float(slope), ((float(cov[0, 0]), float(cov[0, 1])),
                                                      (float(cov[1, 0]), float(cov[1, 1]))), len(xs))  # fmt: skip


@dataclass(frozen=True)
class Bin:
    low_min: float
    high_min: float
    n: int
    good: int
    low: float
    high: float

    @property
    def share(self) -> float:
        return self.good / self.n


@dataclass(frozen=True)
class CurvePoint:
    handle_min: float
    csat: tuple[float, float, float] | None  # the model's CSAT share and interval there
    peak_agents: int  # agents the busiest interval needs
    peak_delta: int  # against today's handle time
    agent_hours_week: float  # extra agent hours on the queue a week against today
    monthly_cost: float  # extra paid cost a month (after shrinkage)


@dataclass(frozen=True)
class TradeOff:
    queue_id: str
    tiers: tuple[str, ...]
    confidence: float
    rated: int  # rated tickets of the tiers the relation comes from
    current_min: float | None  # today's mean handle time of the tiers (minutes)
    share: float | None  # the tiers' share of the queue's solved tickets
    bins: tuple[Bin, ...]
    model: Logistic | None
    peak_start: datetime | None
    peak_arrivals: float | None
    points: tuple[CurvePoint, ...]
    hourly_cost: float
    currency: str
    insufficient: str | None = None


def observations(lives: Iterable[TicketLife], where: dict[str, str], tiers: Sequence[str], start_ms: int,
                 end_ms: int) -> tuple[list[float], list[int], int, int]:  # fmt: skip
    """(handle minutes, good) of the queue's rated tickets of the tiers first solved in [start, end), and the
    counts of the queue's solved tickets with a handle time: of the tiers, and of all."""
    minutes: list[float] = []
    good: list[int] = []
    of_tiers = every = 0
    for life in lives:
        first = life.first_solve()
        if first is None or first.handle_s is None or not start_ms <= first.at_ms < end_ms or not life.serves(where):
            continue
        every += 1
        if first.tier not in tiers:
            continue
        of_tiers += 1
        rating = next((r for r in sorted(life.ratings, key=lambda r: r.at_ms)
                       if r.metric.value == "CSAT" and r.at_ms >= first.at_ms), None)  # fmt: skip
        if rating is not None:
            minutes.append(first.handle_s / 60)
            good.append(int(rating.good))
    return minutes, good, of_tiers, every


def fifths(minutes: Sequence[float], good: Sequence[int], confidence: float) -> tuple[Bin, ...]:
    """CSAT per fifth of the handle times (ties kept together), with Wilson intervals."""
    pairs = sorted(zip(minutes, good, strict=True))
    if len(pairs) < 5:
        return ()
    out = []
    size = len(pairs) / 5
    for k in range(5):
        chunk = pairs[round(k * size) : round((k + 1) * size)]
        if not chunk:
            continue
        hits = sum(g for _, g in chunk)
        low, high = wilson(hits, len(chunk), confidence)
        out.append(Bin(chunk[0][0], chunk[-1][0], len(chunk), hits, low, high))
    return tuple(out)


def trade_off(
    lives: Iterable[TicketLife], plan: QueuePlan, spec: QualitySpec, start_ms: int, end_ms: int, confidence: float
) -> TradeOff:
    """The queue's curve over the declared allowed handle times (or the observed range's steps)."""
    queue = plan.queue
    minutes, good, of_tiers, every = observations(lives, dict(queue.where), spec.tiers, start_ms, end_ms)
    base = TradeOff(queue.id, spec.tiers, confidence, len(minutes), None, None, (), None, None, None, (),
                    spec.hourly_cost, spec.currency)  # fmt: skip
    if len(minutes) < spec.min_rated:
        return replace(base, insufficient=f"{len(minutes)} rated tickets of {', '.join(spec.tiers)} in the queue; the "
                     f"relation needs {spec.min_rated}")  # fmt: skip
    current = sum(minutes) / len(minutes)
    share = of_tiers / every if every else 0.0
    model = fit_logistic(minutes, good)
    steps = spec.steps_min or _steps(minutes)
    staffed = [s for s in plan.staffing if s.staffing is not None and s.forecast.arrivals and s.forecast.handle_s]
    if not staffed:
        return replace(base, current_min=current, share=share, bins=fifths(minutes, good, confidence), model=model,
                     insufficient="no forecast for the queue (too little history)")  # fmt: skip
    peak = max(staffed, key=lambda s: (s.forecast.arrivals or 0.0, -to_ms(s.forecast.start)))
    interval_s = plan.forecast.step_ms / 1000

    def agents(one: object, handle_min: float) -> int:
        f = one.forecast  # type: ignore[attr-defined]
        handle_s = max(1.0, f.handle_s + share * (handle_min - current) * 60)
        return required(Demand(f.arrivals, interval_s, round(handle_s, 1), plan.patience_s), plan.target).agents

    today = {id(s): agents(s, current) for s in staffed}
    points = []
    for step in steps:
        hours = sum((agents(s, step) - today[id(s)]) * interval_s / 3600 for s in staffed)
        days = len({s.forecast.start.date() for s in staffed}) or 1
        per_week = hours * 7 / days
        cost = per_week * WEEKS_PER_MONTH * spec.hourly_cost / (1 - plan.target.shrinkage)
        at_peak = agents(peak, step)
        points.append(CurvePoint(step, model.predict(step, confidence) if model else None, at_peak,
                                 at_peak - today[id(peak)], per_week, cost))  # fmt: skip
    bins = fifths(minutes, good, confidence)
    return replace(base, current_min=current, share=share, bins=bins, model=model, peak_start=peak.forecast.start,
                 peak_arrivals=peak.forecast.arrivals, points=tuple(points))  # fmt: skip


def queue_trade_off(lives: Iterable[TicketLife], metrics: MetricsSpec, workforce: Workforce, queue: Queue,
                    index: HistoryIndex, now_ms: int) -> TradeOff:  # fmt: skip
    """The queue's curve now: tickets of the last ``WINDOW_DAYS``, priced on the next ``PRICED_DAYS`` of forecast."""
    today = from_ms(now_ms).date()
    plan = queue_plan(metrics, workforce, queue, index, today, min(PRICED_DAYS, workforce.forecast.horizon_days))
    return trade_off(lives, plan, workforce.cost_of_quality, now_ms - WINDOW_DAYS * DAY_MS, now_ms, CONFIDENCE)


def _steps(minutes: Sequence[float]) -> tuple[float, ...]:
    """Whole minutes from the observed 10th to the 90th percentile (at most 12 steps)."""
    ordered = sorted(minutes)
    low = math.floor(ordered[int(0.1 * (len(ordered) - 1))])
    high = math.ceil(ordered[int(0.9 * (len(ordered) - 1))])
    step = max(1, math.ceil((high - low) / 11))
    return tuple(float(m) for m in range(max(1, low), high + 1, step))
