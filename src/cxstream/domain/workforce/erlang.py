"""Agents needed for a service level: Erlang C (callers wait forever) and Erlang A (callers abandon).

Erlang C is the M/M/n queue every workforce suite uses; Erlang A (M/M/n+M, Palm's model) adds abandonment with
exponential patience, which keeps the queue stable with too few agents and is what chat and phone queues do.
Figures are per interval in steady state:

- offered load ``A = contacts * handle time / interval`` (Erlangs);
- Erlang C: waiting probability ``C = n·B / (n - A(1 - B))`` from Erlang B's recursion (values stay in (0, 1],
  stable for thousands of agents), service level ``1 - C·exp(-(n - A)·t / handle)``, ASA ``C·handle / (n - A)``;
- Erlang A: the birth-death chain's stationary law, summed in log space; the service level is the share of
  arrivals answered within ``t`` (abandons count as not answered), computed on the tagged caller's chain with a
  sparse matrix exponential (scipy); ASA is the mean wait of every arrival (Little's law on the queue).

Required agents: the smallest ``n`` meeting the service level whose occupancy stays under the cap; positions
to schedule divide by ``1 - shrinkage`` (breaks, training, absence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

#: Erlang A sums the queue's tail until a term adds less than this share (and always past its largest term).
TAIL_EPSILON = 1e-15
MAX_TAIL_TERMS = 2_000_000
MAX_AGENTS = 100_000


class Model(StrEnum):
    ERLANG_C = "erlang_c"
    ERLANG_A = "erlang_a"


@dataclass(frozen=True)
class Demand:
    """What one queue must answer in one interval."""

    contacts: float
    interval_s: float
    handle_s: float
    patience_s: float | None = None  # mean patience; None: nobody abandons (Erlang C)

    def __post_init__(self) -> None:
        if self.contacts < 0 or not math.isfinite(self.contacts):
            raise ValueError(f"contacts must be a finite number >= 0, not {self.contacts}")
        if self.interval_s <= 0 or self.handle_s <= 0:
            raise ValueError("the interval and the handle time must be positive")
        if self.patience_s is not None and self.patience_s <= 0:
            raise ValueError("patience must be positive (leave it out for Erlang C)")

    @property
    def load(self) -> float:
        """Offered load in Erlangs: agents busy all interval if nobody waited or abandoned."""
        return self.contacts * self.handle_s / self.interval_s

    @property
    def model(self) -> Model:
        return Model.ERLANG_C if self.patience_s is None else Model.ERLANG_A


@dataclass(frozen=True)
class ServiceTarget:
    """Answer ``service_level`` of contacts within ``answer_within_s``, agents busy at most ``max_occupancy``,
    ``shrinkage`` of paid time off the queue."""

    answer_within_s: float = 20.0
    service_level: float = 0.8
    max_occupancy: float = 1.0
    shrinkage: float = 0.0

    def __post_init__(self) -> None:
        if self.answer_within_s < 0:
            raise ValueError("answer_within_s must be >= 0")
        if not 0 < self.service_level < 1:
            raise ValueError(f"the service level target must be between 0 and 1, not {self.service_level}")
        if not 0 < self.max_occupancy <= 1:
            raise ValueError(f"the occupancy cap must be in (0, 1], not {self.max_occupancy}")
        if not 0 <= self.shrinkage < 1:
            raise ValueError(f"shrinkage must be in [0, 1), not {self.shrinkage}")

    def positions(self, agents: int) -> int:
        """Scheduled positions that leave ``agents`` on the queue after shrinkage."""
        return math.ceil(agents / (1 - self.shrinkage) - 1e-9)


@dataclass(frozen=True)
class QueueFigures:
    """A queue's steady state with ``agents`` on it."""

    agents: int
    load: float
    service_level: float  # share of arrivals answered within the target time
    occupancy: float  # share of agent time spent handling
    waiting_probability: float  # share of arrivals that wait at all
    asa_s: float  # mean wait (Erlang A: of every arrival, answered or not); inf when the queue is unstable
    abandonment: float | None  # share of arrivals that abandon (Erlang A only)


@dataclass(frozen=True)
class Staffing:
    """The smallest staffing meeting a target, and the queue's figures there."""

    model: Model
    demand: Demand
    target: ServiceTarget
    figures: QueueFigures

    @property
    def agents(self) -> int:
        return self.figures.agents

    @property
    def positions(self) -> int:
        return self.target.positions(self.figures.agents)


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of ``agents`` servers offered ``load`` Erlangs (the recursion stays in (0, 1])."""
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def figures(demand: Demand, agents: int, answer_within_s: float) -> QueueFigures:
    """The queue with ``agents`` answering ``demand`` (Erlang C or A, by whether patience is given)."""
    if agents < 1:
        raise ValueError("at least one agent")
    if demand.patience_s is None:
        return _erlang_c(demand, agents, answer_within_s)
    return _erlang_a(demand, agents, answer_within_s)


def _erlang_c(demand: Demand, n: int, t: float) -> QueueFigures:
    a, handle = demand.load, demand.handle_s
    if a == 0:
        return QueueFigures(n, a, 1.0, 0.0, 0.0, 0.0, None)
    if n <= a:  # unstable: the queue grows without bound
        return QueueFigures(n, a, 0.0, 1.0, 1.0, math.inf, None)
    b = erlang_b(n, a)
    c = n * b / (n - a * (1 - b))
    service_level = 1 - c * math.exp(-(n - a) * t / handle)
    return QueueFigures(n, a, service_level, a / n, c, c * handle / (n - a), None)


def _erlang_a(demand: Demand, n: int, t: float) -> QueueFigures:
    assert demand.patience_s is not None
    a = demand.load
    if a == 0:
        return QueueFigures(n, a, 1.0, 0.0, 0.0, 0.0, 0.0)
    lam = demand.contacts / demand.interval_s
    mu, theta = 1 / demand.handle_s, 1 / demand.patience_s
    # p_j / p_n for j > n: t_k = prod_{i<=k} lam / (n mu + i theta); summed relative to the largest term
    log_terms = _tail_log_terms(lam, n * mu, theta)
    top = max(log_terms, default=0.0)
    scaled = [math.exp(x - top) for x in log_terms]
    tail = sum(scaled)  # sum_k t_k / e^top
    tail_k = sum(k * s for k, s in enumerate(scaled, start=1))  # sum_k k t_k / e^top
    b = erlang_b(n, a)
    # p_n = 1 / (1/B + sum t_k); everything below is scaled by e^top to stay finite
    inv_b = math.inf if b == 0 else 1 / b
    denominator = inv_b * math.exp(-top) + tail
    if not math.isfinite(denominator):  # B underflowed: nobody ever waits
        return QueueFigures(n, a, 1.0, a / n, 0.0, 0.0, 0.0)
    p_n = math.exp(-top) / denominator
    waiting = p_n + tail / denominator
    queue = tail_k / denominator  # E[number waiting]
    abandonment = theta * queue / lam
    served_load = a * (1 - abandonment)
    wait_probs = [p_n] + [s / denominator for s in scaled]  # an arrival finds k = 0, 1, ... waiting ahead
    answered_in_time = _answered_within(wait_probs, n * mu, theta, t)
    service_level = (1 - waiting) + answered_in_time
    return QueueFigures(n, a, min(1.0, service_level), served_load / n, min(1.0, waiting), queue / lam, abandonment)


def _tail_log_terms(lam: float, served_rate: float, theta: float) -> list[float]:
    """log t_k for k = 1, 2, ... until the terms are negligible (they fall once ``k·theta`` passes
    ``lam - served_rate``)."""
    out: list[float] = []
    log_t, top = 0.0, -math.inf
    for k in range(1, MAX_TAIL_TERMS + 1):
        log_t += math.log(lam) - math.log(served_rate + k * theta)
        out.append(log_t)
        top = max(top, log_t)
        falling = served_rate + k * theta > lam
        if falling and log_t - top < math.log(TAIL_EPSILON) - math.log(k + 1):
            return out
    raise ValueError("the queue's tail does not converge: patience too long for this load")


def _answered_within(wait_probs: list[float], served_rate: float, theta: float, t: float) -> float:
    """The share of arrivals that wait and are answered within ``t``: a caller with ``k`` ahead moves up at
    rate ``served_rate + k·theta`` (services and abandons ahead), is answered at ``served_rate`` once first,
    and abandons at ``theta`` all along. Solved on that chain with one sparse matrix exponential."""
    if t <= 0:
        return 0.0
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import expm_multiply

    size = len(wait_probs)  # states: k waiting ahead, k = 0 .. size-1; "answered" is state ``size``
    k = np.arange(size)
    up = served_rate + k * theta  # rate of moving from k to k-1 ahead (from 0: being answered)
    # the generator transposed (entry [to, from]), so that expm_multiply pushes the probability vector;
    # abandoning is a way out of every waiting state that is not tracked
    rows = np.concatenate([k, k[1:] - 1, [size]])
    cols = np.concatenate([k, k[1:], [0]])
    rates = np.concatenate([-(up + theta), up[1:], [served_rate]])
    generator_t = coo_matrix((rates * t, (rows, cols)), shape=(size + 1, size + 1)).tocsc()
    start = np.append(np.array(wait_probs), 0.0)
    return float(expm_multiply(generator_t, start)[size])


def required(demand: Demand, target: ServiceTarget) -> Staffing:
    """The fewest agents meeting ``target``'s service level within its occupancy cap."""
    n = max(1, math.floor(demand.load) + (1 if demand.patience_s is None else 0))
    if demand.load > 0:
        n = max(n, math.ceil(demand.load / target.max_occupancy - 1e-9))
    while n <= MAX_AGENTS:
        at = figures(demand, n, target.answer_within_s)
        if at.service_level >= target.service_level and at.occupancy <= target.max_occupancy + 1e-12:
            return Staffing(demand.model, demand, target, at)
        n += 1
    raise ValueError(f"no staffing up to {MAX_AGENTS} agents meets the target")
