"""The dead-letter limit: when an agent's own failures stop it instead of draining a topic into cx.dlq."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from cxstream.domain.ingest.failure_limit import FailureLimit, FailureLimitSpec


def test_a_run_of_failures_stops_at_the_limit_and_a_success_breaks_the_run() -> None:
    limit = FailureLimit(FailureLimitSpec(max_consecutive=3, max_ratio=1.0, window=10))
    assert limit.failed("x") is None and limit.failed("x") is None
    limit.succeeded()
    assert limit.failed("x") is None and limit.failed("x") is None
    tripped = limit.failed("KeyError: 'order_id'")
    assert tripped is not None and tripped.consecutive == 3
    assert tripped.reason == "3 records in a row failed (limit 3); last: KeyError: 'order_id'"
    assert limit.tripped is tripped and limit.failed("y") is tripped  # stays stopped


def test_a_high_share_of_failures_stops_even_when_they_alternate() -> None:
    limit = FailureLimit(FailureLimitSpec(max_consecutive=100, max_ratio=0.5, window=10))
    outcomes = []
    for i in range(40):
        if i % 3 == 2:
            limit.succeeded()
            outcomes.append(None)
        else:
            outcomes.append(limit.failed("boom"))
    tripped = next(t for t in outcomes if t is not None)
    # the ratio is judged once the window is full: 10 records, 7 failures (two of every three)
    assert outcomes.index(tripped) == 9 and (tripped.failed, tripped.seen) == (7, 10)
    assert tripped.reason.startswith("7 of the last 10 records failed (70%, limit 50%)")


def test_odd_failures_among_healthy_traffic_never_stop_an_agent() -> None:
    """Under no change (1 % of records fail at random) the limit of the shipped defaults never trips."""
    rng = random.Random(7)
    limit = FailureLimit(FailureLimitSpec())
    for _ in range(200_000):
        if rng.random() < 0.01:
            assert limit.failed("odd record") is None
        else:
            limit.succeeded()
    assert limit.tripped is None


def test_the_failures_that_leave_the_window_stop_counting() -> None:
    limit = FailureLimit(FailureLimitSpec(max_consecutive=50, max_ratio=0.5, window=10))
    for _ in range(5):
        limit.failed("x")
    for _ in range(10):
        limit.succeeded()  # the five failures have left the window
    for _ in range(5):
        assert limit.failed("x") is None  # 5 of 10: not above half
    assert limit.failed("x") is not None  # 6 of 10


def test_a_limit_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValidationError):
        FailureLimitSpec(max_consecutive=0)
    with pytest.raises(ValidationError):
        FailureLimitSpec(max_ratio=0)
