"""Sample planning: scopes that will not reach a metric's minimum n are found, with the invites that would,
and the uncertainty of the observed response rate is carried, not hidden."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from cxstream.domain.cases.sample_planning import ScopeHistory, Verdict, plan, plan_row
from cxstream.domain.metrics.stats import wilson


def test_short_at_risk_and_enough_scopes_in_that_order() -> None:
    rows = plan(
        [
            ScopeHistory({"region": "emea"}, invites_sent=2000, answers=400, invites_planned=500),  # ~100 answers
            ScopeHistory({"region": "apac"}, invites_sent=1000, answers=100, invites_planned=300),  # ~30 answers
            ScopeHistory({"region": "amer"}, invites_sent=400, answers=100, invites_planned=130),  # ~32 answers
            ScopeHistory({"region": "latam"}, invites_sent=0, answers=0, invites_planned=50),
        ],
        min_n=30,
    )
    assert [(r.scope["region"], r.verdict) for r in rows] == [
        ("amer", Verdict.AT_RISK), ("apac", Verdict.AT_RISK), ("latam", Verdict.NO_HISTORY), ("emea", Verdict.ENOUGH),
    ]  # fmt: skip
    apac = rows[1]
    low, high = wilson(100, 1000, 0.95)
    assert (apac.rate_low, apac.rate_high) == (low, high) and apac.invites_needed == math.ceil(30 / low)
    assert apac.change is not None and apac.change > 0  # sample more there
    assert rows[-1].change is not None and rows[-1].change < 0  # emea could give invites away
    assert "n=1000 invites, 95% CI 8.3% to 12.0%" in apac.describe()
    short = plan_row(ScopeHistory({"site": "sin-1"}, 500, 10, 100), min_n=30)
    assert (
        short.verdict is Verdict.SHORT and "no invites sent yet" in plan_row(ScopeHistory({}, 0, 0, 10), 30).describe()
    )


@given(sent=st.integers(1, 5000), share=st.floats(0, 1), planned=st.integers(0, 5000), min_n=st.integers(1, 400))
def test_the_invites_needed_reach_the_minimum_at_the_lower_rate(
    sent: int, share: float, planned: int, min_n: int
) -> None:
    row = plan_row(ScopeHistory({}, sent, round(sent * share), planned), min_n)
    assert row.rate_low is not None and row.expected_low is not None and row.expected_high is not None
    assert row.expected_low <= row.expected_high
    if row.invites_needed is not None:
        assert row.invites_needed * row.rate_low >= min_n - 1e-9
        assert (row.invites_needed - 1) * row.rate_low < min_n
    if row.verdict is Verdict.ENOUGH:
        assert row.expected_low >= min_n


def test_histories_per_scope_from_invites_and_answers() -> None:
    from cxstream.app import load_context
    from cxstream.domain.cases.sample_planning import Sighting, scope_histories
    from cxstream.settings import Settings

    spec = load_context(Settings()).topology.metrics
    delivery = next(d for d in spec.definitions if d.id == "csat.delivery")
    day = 86_400_000

    def seen(survey: str, region: str, stage: str = "delivery") -> Sighting:
        return Sighting(survey, 0, {"region": region, "journey_stage": stage})

    invites = [seen("CSAT", "emea")] * 700 + [seen("CSAT", "apac")] * 70 + [seen("CES", "emea", "support")] * 99
    answers = [seen("CSAT", "emea")] * 140 + [seen("CSAT", "apac")] * 14 + [seen("CSAT", "emea", "support")] * 5
    rows = scope_histories(delivery, invites, answers, ("region",), 7 * day, day)
    assert [(dict(h.scope), h.invites_sent, h.answers, h.invites_planned) for h in rows] == [
        ({"region": "apac"}, 70, 14, 10),
        ({"region": "emea"}, 700, 140, 100),
    ]  # another survey or another journey stage is another metric's business
    first_response = next(d for d in spec.definitions if d.id == "first_response")
    assert scope_histories(first_response, invites, answers, ("region",), 7 * day, day) == []


def test_the_plan_uses_the_span_the_data_covers_not_the_period_asked() -> None:
    """Two minutes of invites asked about over seven days: the pace is per two minutes, not per week."""
    from cxstream.domain.cases.sample_planning import Sighting, observed_span_ms

    minute, day = 60_000, 86_400_000
    now = 100 * day
    sightings = [Sighting("CSAT", now - 2 * minute + i, {"region": "emea"}) for i in range(3)]
    assert observed_span_ms(sightings, 7 * day, now) == 2 * minute
    assert observed_span_ms([], 7 * day, now) == 7 * day  # nothing seen: the period as asked
    old = [Sighting("CSAT", now - 9 * day, {}), *sightings]  # before the period: not counted
    assert observed_span_ms(old, 7 * day, now) == 2 * minute
    assert observed_span_ms([Sighting("CSAT", now - 8 * day + 1, {})], 7 * day, now) == 7 * day
