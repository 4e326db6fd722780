"""A queue's plan end to end without Kafka: the demo's past contacts through the canonical connector and
backfill into a history index, then forecast and staffing for the declared queues."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache

import pytest

from cxstream.app import load_context
from cxstream.connectors.base import RawContext
from cxstream.connectors.pipeline import normalize_record
from cxstream.demo.past import past_contacts
from cxstream.domain.base import to_ms
from cxstream.domain.history.backfill import Backfill
from cxstream.domain.history.facts import HistoryClosed
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.workforce.erlang import Model
from cxstream.domain.workforce.queues import queue_plan
from cxstream.settings import Settings

TODAY = date(2026, 11, 30)  # a Monday
CTX = load_context(Settings())


@cache
def index() -> HistoryIndex:
    connector = next(c for c in CTX.connectors.values() if c.name == "canonical")
    midnight = to_ms(datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC))
    backfill = Backfill(CTX.topology.metrics, midnight, midnight + 3_600_000)
    context = RawContext(ingest_time=datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC))
    for raw in past_contacts(TODAY - timedelta(days=56), 56, per_weekday=300, seed=21):
        outcome = normalize_record(connector, raw, context, CTX.validator, CTX.enricher, history=True)
        assert not outcome.rejects, outcome.rejects
        for event in outcome.events:
            backfill.add(event, "import:test")
    built = HistoryIndex()
    for fact in backfill.facts():
        built.apply(fact.key.encode(), fact)
    closure = HistoryClosed("import:test", midnight, 0, "past contacts")
    built.apply(closure.key(), closure)
    return built


def test_every_declared_queue_gets_a_forecast_and_staffing() -> None:
    workforce = CTX.topology.workforce
    for queue in workforce.queues:
        plan = queue_plan(CTX.topology.metrics, workforce, queue, index(), TODAY, 1)
        assert len(plan.staffing) == 48  # 30-minute intervals
        assert plan.forecast.history_days == 56 and plan.forecast.sufficient
        assert plan.forecast.accuracy.days == 7
        busy = max(plan.staffing, key=lambda s: s.forecast.arrivals or 0)
        assert busy.forecast.arrivals and busy.forecast.handle_s and busy.agents and busy.positions
        assert busy.positions >= busy.agents and busy.staffing is not None
        assert busy.staffing.figures.service_level >= plan.target.service_level
        assert plan.model is (Model.ERLANG_A if "chat" in queue.id else Model.ERLANG_C)


def test_the_emea_peak_is_in_its_business_hours() -> None:
    workforce = CTX.topology.workforce
    plan = queue_plan(CTX.topology.metrics, workforce, workforce.queue("emea-chat"), index(), TODAY, 1)
    busy = max(plan.staffing, key=lambda s: s.forecast.arrivals or 0)
    assert 7 <= busy.forecast.start.hour < 17
    night = [s for s in plan.staffing if s.forecast.start.hour in (20, 21, 22)]
    assert all((s.forecast.arrivals or 0) < (busy.forecast.arrivals or 0) / 4 for s in night)


def test_each_tier_shows_the_handle_time_it_really_takes() -> None:
    workforce = CTX.topology.workforce
    plan = queue_plan(CTX.topology.metrics, workforce, workforce.queue("emea-email"), index(), TODAY, 1)
    tiers = {t.tier: t for t in plan.tiers}
    assert list(tiers) == ["complex", "simple", "standard"]
    assert sum(t.share for t in plan.tiers) == pytest.approx(1.0)
    complex_, simple, standard = (tiers[k].handle_time for k in ("complex", "simple", "standard"))
    assert all(e.n > 30 and e.value is not None and e.low is not None for e in (complex_, simple, standard))
    # the demo's handle times: problems, urgent and billing take longest, plain questions least
    assert complex_.low > standard.high and standard.low > simple.high  # type: ignore[operator]
    # the queue's handle time is the tiers' n-weighted mean
    pooled = sum(t.share * (t.handle_time.value or 0) for t in plan.tiers)
    busy = max(plan.staffing, key=lambda s: s.forecast.arrivals or 0)
    assert busy.forecast.handle_s is not None
    assert pooled == pytest.approx(busy.forecast.handle_s / 60, rel=0.15)  # same weeks, pooled over every slot
