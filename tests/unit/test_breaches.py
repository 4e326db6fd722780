"""Threshold rules and the breach lifecycle: levels, hysteresis, required duration, the statistical guard,
overrides and their precedence, deterministic ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxstream.domain.alerting.thresholds import (
    BreachState,
    Direction,
    Guard,
    Method,
    Severity,
    Status,
    ThresholdRule,
    breach_id,
    evaluate,
)
from cxstream.domain.metrics.stats import Estimate

HOP = 300_000
CSAT = ThresholdRule(
    id="csat.delivery.low", metric="csat.delivery", window="1h", direction=Direction.BELOW, method=Method.WINDOW,
    warning=75, critical=60, clear=80, scope_by=("region",),
    overrides=({"matchers": ("region=apac", "site=sin-1"), "warning": 65},  # type: ignore[arg-type]
               {"matchers": ("region=apac",), "warning": 70, "critical": 55}),  # type: ignore[arg-type]
)  # fmt: skip
EMEA = {"region": "emea"}


def est(value: float | None, n: int = 200, half: float = 3.0) -> Estimate:
    if value is None:
        return Estimate(None, n, None, None, 0.95, 30, "%")
    return Estimate(value, n, value - half, value + half, 0.95, 30, "%")


def run(rule: ThresholdRule, values: list[float | None], scope: dict[str, str] = EMEA) -> list[tuple[Status, Severity]]:
    state = BreachState()
    out = []
    for i, value in enumerate(values):
        state, change = evaluate(rule, scope, est(value), (i + 1) * HOP, state)
        if change:
            out.append((change.status, change.severity))
    return out


def test_fires_updates_and_resolves_with_hysteresis() -> None:
    assert run(CSAT, [90, 74, 72, 58, 70, 78, 81]) == [
        (Status.FIRING, Severity.WARNING),
        (Status.UPDATED, Severity.CRITICAL),
        (Status.UPDATED, Severity.WARNING),
        (Status.RESOLVED, Severity.WARNING),  # 78 is above warning but below clear: still open; 81 clears
    ]


def test_required_duration_keeps_single_dips_quiet() -> None:
    rule = CSAT.model_copy(update={"for_windows": 3})
    assert run(rule, [70, 90, 70, 70, 90]) == []
    assert run(rule, [70, 70, 70]) == [(Status.FIRING, Severity.WARNING)]


def test_an_evaluation_with_too_few_answers_breaks_the_streak() -> None:
    rule = CSAT.model_copy(update={"for_windows": 2})
    assert run(rule, [70, None, 70]) == []  # "insufficient sample" in between is no evidence of a breach
    assert run(rule, [70, 70]) == [(Status.FIRING, Severity.WARNING)]


def test_the_interval_guard_clears_by_the_same_standard_it_fires() -> None:
    guarded = CSAT.model_copy(update={"guard": Guard.INTERVAL})
    state, change = evaluate(guarded, EMEA, est(69, half=5), HOP, BreachState())
    assert change is not None and change.status is Status.FIRING
    state, change = evaluate(guarded, EMEA, est(82, half=3), 2 * HOP, state)  # 79-85 straddles clear (80)
    assert change is None and state.open_id is not None
    state, change = evaluate(guarded, EMEA, est(84, half=3), 3 * HOP, state)  # 81-87: all above clear
    assert change is not None and change.status is Status.RESOLVED


def test_the_interval_guard_needs_the_whole_interval_beyond_the_level() -> None:
    guarded = CSAT.model_copy(update={"guard": Guard.INTERVAL})
    state, change = evaluate(guarded, EMEA, est(73, half=5), HOP, BreachState())  # 68-78 straddles 75
    assert change is None
    state, change = evaluate(guarded, EMEA, est(69, half=5), 2 * HOP, state)  # 64-74: all below 75
    assert change is not None and change.severity is Severity.WARNING


def test_insufficient_samples_decide_nothing() -> None:
    assert run(CSAT, [None, None, 50, None, None]) == [(Status.FIRING, Severity.CRITICAL)]
    state, _ = evaluate(CSAT, EMEA, est(50), HOP, BreachState())
    _, change = evaluate(CSAT.model_copy(update={"min_n": 500}), EMEA, est(95, n=100), 2 * HOP, state)
    assert change is None  # below the rule's own minimum n: the open breach stays open


def test_overrides_first_match_wins_field_by_field() -> None:
    assert CSAT.levels_for({"region": "apac", "site": "sin-1"}).warning == 65
    assert CSAT.levels_for({"region": "apac", "site": "sin-1"}).critical == 60  # not overridden there
    assert CSAT.levels_for({"region": "apac", "site": "mnl-1"}).model_dump() == {
        "warning": 70,
        "critical": 55,
        "clear": 80,
    }
    assert CSAT.levels_for(EMEA).warning == 75
    assert run(CSAT, [72], {"region": "apac", "site": "mnl-1"}) == []


def test_breach_ids_are_deterministic_and_replays_change_nothing() -> None:
    state, first = evaluate(CSAT, EMEA, est(70), HOP, BreachState())
    assert first is not None and first.breach_id == breach_id(CSAT.id, EMEA, HOP)
    again, replayed = evaluate(CSAT, EMEA, est(70), HOP, state)
    assert replayed is None and again == state
    assert breach_id(CSAT.id, {"region": "emea"}, HOP) != breach_id(CSAT.id, {"region": "apac"}, HOP)


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({}, "warning or a critical"),
        ({"warning": 60, "critical": 75}, "critical must be beyond warning"),
        ({"warning": 75, "clear": 70}, "good side"),
    ],
)
def test_inconsistent_levels_are_refused(levels: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ThresholdRule(id="r.x", metric="m", window="1h", direction=Direction.BELOW, **levels)  # type: ignore[arg-type]


def test_above_rules_mirror_below_rules() -> None:
    delay = ThresholdRule(id="delay.high", metric="delivery_delay", window="1h", direction=Direction.ABOVE,
                          warning=12, critical=24, clear=6)  # fmt: skip
    assert (
        run(
            delay,
            [2, 10, 5],
        )
        == []
    )
    assert run(delay, [2, 13, 30, 13, 5]) == [
        (Status.FIRING, Severity.WARNING),
        (Status.UPDATED, Severity.CRITICAL),
        (Status.UPDATED, Severity.WARNING),
        (Status.RESOLVED, Severity.WARNING),
    ]


@given(values=st.lists(st.one_of(st.none(), st.floats(0, 100)), max_size=40))
def test_lifecycle_is_always_well_formed(values: list[float | None]) -> None:
    """FIRING opens, RESOLVED closes, UPDATED only while open; at most one open breach per rule and scope."""
    open_id = None
    state = BreachState()
    for i, value in enumerate(values):
        state, change = evaluate(CSAT, EMEA, est(value), (i + 1) * HOP, state)
        if change is None:
            continue
        if change.status is Status.FIRING:
            assert open_id is None
            open_id = change.breach_id
        else:
            assert change.breach_id == open_id
            if change.status is Status.RESOLVED:
                open_id = None
    assert state.open_id == open_id
