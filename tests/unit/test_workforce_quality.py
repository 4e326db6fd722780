"""The cost of quality without Kafka: the logistic fit against a published reference, and the trade-off curve of
a queue from seeded ticket lives and the demo's past contacts."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from cxstream.domain.base import to_ms
from cxstream.domain.ingest.events import SurveyMetric
from cxstream.domain.workforce.quality import fit_logistic, trade_off
from cxstream.domain.workforce.queues import queue_plan
from cxstream.domain.workforce.spec import QualitySpec
from cxstream.domain.workforce.tickets import Rating, Solve, TicketLife
from tests.unit.test_workforce_plan import CTX, TODAY, index

# Dalal, Fowlkes and Hoadley (1989): launch temperature (F) and O-ring failure of the 23 shuttle flights before
# Challenger; the logistic fit is intercept 15.0429 (SE 7.3786), slope -0.2322 (SE 0.1082).
TEMPERATURES = [66, 70, 69, 68, 67, 72, 73, 70, 57, 63, 70, 78, 67, 53, 67, 75, 70, 81, 76, 79, 75, 76, 58]
FAILED = [0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1]


def test_the_logistic_fit_reproduces_the_challenger_o_ring_reference() -> None:
    model = fit_logistic(TEMPERATURES, FAILED)
    assert model is not None and model.n == 23
    assert model.intercept == pytest.approx(15.0429, abs=5e-4)
    assert model.slope == pytest.approx(-0.2322, abs=5e-5)
    assert math.sqrt(model.cov[0][0]) == pytest.approx(7.3786, abs=5e-4)
    assert model.slope_se == pytest.approx(0.1082, abs=5e-5)
    p, low, high = model.predict(31, 0.95)  # the launch morning: failure all but certain, a wide interval
    assert p > 0.99 and low < p < high <= 1
    assert fit_logistic([1, 2, 3], [0, 1, 1]) is None  # too few outcomes of a kind
    assert fit_logistic([1, 2, 3, 4, 5, 6], [0, 0, 0, 1, 1, 1]) is None  # separated: no finite estimate


def lives(count: int, seed: int = 4) -> list[TicketLife]:
    """Billing tickets (tier complex), rated better the longer they were handled."""
    rng = random.Random(seed)
    start = to_ms(datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC) - timedelta(days=3))
    out = []
    for i in range(count):
        minutes = rng.uniform(3, 20)
        good = rng.random() < 0.45 + 0.025 * minutes
        at = start + i * 60_000
        life = TicketLife(f"helpdesk:{i}", str(i), team="billing", region="emea", channel="email")
        life.solves.append(Solve(at, "a1", round(minutes * 60), "complex", "email"))
        life.ratings.append(Rating(at + 1000, SurveyMetric.CSAT, 5 if good else 1, good, "a1", f"r{i}"))
        out.append(life)
    other = TicketLife("helpdesk:x", "x", team="billing", channel="email")  # a standard one: counts in the share
    other.solves.append(Solve(start, "a2", 300, "standard", "email"))
    return [*out, other]


def test_the_trade_off_curve_prices_longer_handling_and_shows_its_association_with_csat() -> None:
    workforce = CTX.topology.workforce
    plan = queue_plan(CTX.topology.metrics, workforce, workforce.queue("billing"), index(), TODAY, 7)
    spec = QualitySpec(steps=("6m", "10m", "14m"), hourly_cost=40)
    window = (to_ms(datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC)) - 7 * 86_400_000,
              to_ms(datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC)))  # fmt: skip
    curve = trade_off(lives(600), plan, spec, *window, 0.95)
    assert curve.insufficient is None and curve.rated == 600
    assert curve.share == pytest.approx(600 / 601) and curve.current_min == pytest.approx(11.5, abs=0.5)
    assert curve.model is not None and curve.model.slope > 0  # longer handling goes with better ratings here
    assert [p.handle_min for p in curve.points] == [6, 10, 14]
    costs = [p.monthly_cost for p in curve.points]
    assert costs == sorted(costs) and costs[0] < 0 < costs[-1]  # shorter than today saves, longer costs
    assert [p.peak_agents for p in curve.points] == sorted(p.peak_agents for p in curve.points)
    for p in curve.points:
        assert p.csat is not None and p.csat[1] < p.csat[0] < p.csat[2]
        assert p.monthly_cost == pytest.approx(p.agent_hours_week * 52 / 12 * 40 / (1 - 0.3))
    assert curve.points[0].csat is not None and curve.points[-1].csat is not None
    assert curve.points[-1].csat[0] > curve.points[0].csat[0]
    assert len(curve.bins) == 5 and sum(b.n for b in curve.bins) == 600
    assert curve.peak_start is not None and curve.peak_arrivals
    few = trade_off(lives(20), plan, spec, *window, 0.95)
    assert few.insufficient is not None and "20 rated tickets" in few.insufficient and not few.points
