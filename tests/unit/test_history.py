"""Metric history as pure functions: which periods close when, what a partition publishes, how the index keeps
the freshest version, and how weeks, months and years merge from days, exactly as the live windows read."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cxstream.app import load_context
from cxstream.config.topology import load_topology
from cxstream.config.yaml_source import ConfigError
from cxstream.domain.base import to_ms
from cxstream.domain.history.closing import closed_through, closing_facts, holds_fine_cell
from cxstream.domain.history.facts import FactKey, HistoryClosed, HistoryFact, live_origin
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.history.views import Grain, history_view, next_period, period_start
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation, Survey, SurveyMetric
from cxstream.domain.metrics.cells import Cell, CellKey, CellValue, apply_update, housekeeping
from cxstream.domain.metrics.measure import updates_for
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient
from cxstream.domain.metrics.windows import read_window
from cxstream.serde.avro import CodecFactory
from cxstream.serde.catalog import SchemaCatalog
from cxstream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BASE = load_context(Settings()).topology.metrics


def with_intervals(spec: MetricsSpec, definition: str, interval: str = "15m") -> MetricsSpec:
    data = spec.model_dump(mode="json")
    for d in data["definitions"]:
        if d["id"] == definition:
            d["history"]["interval"] = interval
    return MetricsSpec.model_validate(data)


SPEC = with_intervals(BASE, "delivery_delay")
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)
REGIONS = ("emea", "amer", "apac")


def event(rng: random.Random, i: int, when: datetime) -> CanonicalEvent:
    region = rng.choice(REGIONS)
    common: dict[str, Any] = {
        "event_id": f"e{i}", "event_time": when, "ingest_time": when + timedelta(minutes=rng.uniform(0, 20)),
        "source": "crm", "source_record_id": f"r{i}", "team": "logistics", "region": region, "site": f"{region}-1",
        "touchpoint": "delivery", "channel": rng.choice(("email", "sms")), "customer_id": f"c{rng.randint(1, 400)}",
    }  # fmt: skip
    kind = rng.random()
    if kind < 0.5:
        answer = Survey.on_standard_scale(SurveyMetric.CSAT, rng.randint(1, 5))
        return CanonicalEvent.model_validate(
            {**common, "event_type": EventType.SURVEY_RESPONSE, "journey_stage": "delivery", "survey": answer}
        )
    if kind < 0.7:
        answer = Survey.on_standard_scale(SurveyMetric.NPS, rng.randint(0, 10))
        return CanonicalEvent.model_validate(
            {**common, "event_type": EventType.SURVEY_RESPONSE, "journey_stage": "relationship", "survey": answer}
        )
    promised = when - timedelta(hours=rng.uniform(-10, 30))
    op = Operation(order_id=f"o{i}", promised_at=promised, actual_at=when)
    return CanonicalEvent.model_validate({**common, "event_type": EventType.ORDER_DELIVERED,
                                          "journey_stage": "delivery", "operation": op})  # fmt: skip


@dataclass
class Worker:
    """What the metric tables and the history sink do, per partition, without Kafka."""

    spec: MetricsSpec
    partitions: int = 3
    table: dict[CellKey, CellValue] = field(default_factory=dict)
    offsets: dict[int, int] = field(default_factory=dict)
    watermarks: dict[int, int] = field(default_factory=dict)
    index: HistoryIndex = field(default_factory=HistoryIndex)
    published: list[HistoryFact] = field(default_factory=list)

    def cells(self) -> list[Cell]:
        return [Cell(k, v) for k, v in self.table.items()]

    def read(self, e: CanonicalEvent) -> None:
        partition = int(e.customer_id[1:]) % self.partitions if e.customer_id else 0
        offset = self.offsets[partition] = self.offsets.get(partition, -1) + 1
        self.watermarks[partition] = max(self.watermarks.get(partition, 0), to_ms(e.ingest_time))
        for update in updates_for(self.spec, e, partition):
            value = apply_update(self.table.get(update.key), update, offset)
            if value is not None:
                self.table[update.key] = value

    def housekeeping(self, now_ms: int) -> None:
        for partition, watermark in self.watermarks.items():
            facts = closing_facts(self.spec, self.cells(), partition, watermark, self.index.version, now_ms)
            for fact in facts:
                self.index.apply(fact.key.encode(), fact)
            self.published += facts
            closure = HistoryClosed(live_origin(partition), closed_through(self.spec, watermark), self.partitions)
            self.index.apply(closure.key(), closure)
            through = closed_through(self.spec, watermark)

            def hold(key: CellKey, through: int = through) -> bool:
                return holds_fine_cell(self.spec, key, through)

            plan = housekeeping(self.cells(), partition, now_ms, self.spec, hold)
            self.table.update(plan.writes)
            for key in plan.deletes:
                del self.table[key]


def run_week(seed: int = 3, until: datetime = MONDAY + timedelta(days=7, hours=6, minutes=50)) -> Worker:
    """A week of traffic from Monday 16 November, read in ingest order with housekeeping every 20 minutes of
    stream time, up to ``until`` (just after the week became final)."""
    rng = random.Random(seed)
    events = []
    at, i = MONDAY - timedelta(hours=2), 0
    while at < until - timedelta(minutes=25):
        at += timedelta(minutes=rng.expovariate(1 / 4))
        events.append(event(rng, i, at))
        i += 1
    events.sort(key=lambda e: e.ingest_time)
    worker = Worker(SPEC)
    next_housekeeping = to_ms(events[0].ingest_time)
    for e in events:
        worker.read(e)
        if to_ms(e.ingest_time) >= next_housekeeping:
            worker.housekeeping(to_ms(e.ingest_time))
            next_housekeeping += 20 * 60_000
    return worker


WORKER = run_week()
END = MONDAY + timedelta(days=7, hours=6, minutes=50)


@pytest.mark.parametrize("definition", ["csat.delivery", "nps.relationship", "delivery_delay"])
@pytest.mark.parametrize("where", [{}, {"region": "emea"}, {"region": "apac", "channel": "sms"}])
def test_a_week_merged_from_days_equals_the_live_seven_day_window(definition: str, where: dict[str, str]) -> None:
    live = read_window(SPEC, WORKER.cells(), definition, "7d", now=END, where=where, closed=True)
    assert live.start == MONDAY
    view = history_view(SPEC, WORKER.index, definition, Grain.WEEK, MONDAY.date(), MONDAY.date() + timedelta(6),
                        now=END, where=where)  # fmt: skip
    (week,) = view.points
    assert week.start == live.start and week.end == live.end and not week.partial
    assert week.days_with_data == 7
    assert week.stats.hist == live.stats.hist  # type: ignore[union-attr]
    assert (week.stats.n, week.stats.hits) == (live.stats.n, live.stats.hits)  # type: ignore[union-attr]
    assert week.stats.mean == pytest.approx(live.stats.mean, rel=1e-12)  # type: ignore[union-attr]
    assert week.estimate.n == live.estimate.n > 50
    assert week.estimate.value == pytest.approx(live.estimate.value, rel=1e-9)
    assert week.estimate.low == pytest.approx(live.estimate.low, rel=1e-9)
    assert week.top_drivers == live.top_drivers


@pytest.mark.parametrize("back", range(7))
def test_each_published_day_equals_the_live_day_window(back: int) -> None:
    live = read_window(SPEC, WORKER.cells(), "csat.delivery", "1d", now=END, closed=True, back=back)
    view = history_view(SPEC, WORKER.index, "csat.delivery", Grain.DAY, live.start.date(), live.start.date(), now=END)
    assert view.points[0].stats.hist == live.stats.hist  # type: ignore[union-attr]


def test_each_period_is_published_once_and_a_crash_republishes_the_same_values() -> None:
    keys = [f.key for f in WORKER.published]
    assert len(keys) == len(set(keys)), "a period was published twice"
    again = [closing_facts(SPEC, WORKER.cells(), p, w, WORKER.index.version, to_ms(END))
             for p, w in WORKER.watermarks.items()]  # fmt: skip
    assert again == [[], [], []]
    # a restarted worker with no memory of what it published computes the same values for the days it still holds
    forgotten = [f for p, w in WORKER.watermarks.items()
                 for f in closing_facts(SPEC, WORKER.cells(), p, w, lambda key: None, to_ms(END))]  # fmt: skip
    assert forgotten
    by_key = {f.key: f for f in WORKER.published}
    for fact in forgotten:
        first = by_key[fact.key]
        assert fact.version == first.version
        assert (fact.stats.hist, fact.stats.n, fact.stats.hits) == (first.stats.hist, first.stats.n, first.stats.hits)
        assert fact.stats.mean == pytest.approx(first.stats.mean, rel=1e-12)
        assert fact.stats.m2 == pytest.approx(first.stats.m2, rel=1e-9)


def test_intervals_are_published_before_their_fine_cells_fold() -> None:
    day = MONDAY + timedelta(days=2)
    view = history_view(SPEC, WORKER.index, "delivery_delay", Grain.INTERVAL, day.date(), day.date(), now=END)
    assert len(view.points) == 96 and view.period_ms == 900_000
    whole = history_view(SPEC, WORKER.index, "delivery_delay", Grain.DAY, day.date(), day.date(), now=END)
    assert sum(p.stats.n for p in view.points) == whole.points[0].stats.n > 0
    with pytest.raises(ValueError, match="keeps no intervals"):
        history_view(SPEC, WORKER.index, "csat.delivery", Grain.INTERVAL, day.date(), day.date(), now=END)


def test_a_period_closes_on_the_partitions_ingest_watermark_not_the_wall_clock() -> None:
    rng = random.Random(1)
    sunday = MONDAY - timedelta(hours=1)  # Sunday 23:00
    worker = Worker(SPEC)
    worker.read(event(rng, 1, sunday).model_copy(update={"customer_id": "c3", "ingest_time": sunday}))
    end_of_sunday = to_ms(MONDAY)
    boundary = end_of_sunday + SPEC.grace_ms + 2 * SPEC.finest_ms
    cells = worker.cells()
    far_future = boundary + 30 * DAY_MS  # the wall clock does not close anything: only what was read does
    assert not [
        f for f in closing_facts(SPEC, cells, 0, boundary - 1, lambda k: None, far_future) if f.key.period_ms == DAY_MS
    ]
    closed = [f for f in closing_facts(SPEC, cells, 0, boundary, lambda k: None, boundary) if f.key.period_ms == DAY_MS]
    assert [(f.key.start_ms, f.key.origin) for f in closed] == [(to_ms(sunday - timedelta(hours=23)), "p0")]
    assert closed_through(SPEC, boundary) == end_of_sunday


def test_a_stale_version_never_replaces_a_fresher_one() -> None:
    key = FactKey("csat.delivery", DAY_MS, to_ms(MONDAY), "p1", ("logistics",))
    fresh = HistoryFact(key, ("team",), Sufficient(hist={5: 161}), {}, 502)
    stale = HistoryFact(key, ("team",), Sufficient(hist={5: 48}), {}, 146)  # a fenced worker's stale copy
    index = HistoryIndex()
    index.apply(key.encode(), fresh)
    index.apply(key.encode(), stale)
    assert index.version(key) == 502 and index.stale_ignored == 1
    index.apply(key.encode(), None)  # a tombstone (retention) removes it
    assert index.version(key) is None


def test_coverage_is_the_earliest_closure_of_all_partitions() -> None:
    index = HistoryIndex()
    index.apply(HistoryClosed("p0", 5_000, 2).key(), HistoryClosed("p0", 5_000, 2))
    assert index.coverage().through_ms is None and index.coverage().closed == 1  # p1 has not closed anything
    index.apply(HistoryClosed("p1", 3_000, 2).key(), HistoryClosed("p1", 3_000, 2))
    index.apply(HistoryClosed("p1", 2_000, 2).key(), HistoryClosed("p1", 2_000, 2))  # an older closure is ignored
    assert index.coverage().through_ms == 3_000


def test_calendar_periods() -> None:
    assert period_start(Grain.WEEK, date(2026, 1, 1)) == date(2025, 12, 29)  # ISO week 1 of 2026 starts in 2025
    assert period_start(Grain.QUARTER, date(2026, 8, 19)) == date(2026, 7, 1)
    assert next_period(Grain.QUARTER, date(2026, 10, 1)) == date(2027, 1, 1)
    assert next_period(Grain.MONTH, date(2026, 12, 1)) == date(2027, 1, 1)
    assert next_period(Grain.YEAR, date(2028, 1, 1)) == date(2029, 1, 1)


def synthetic_year(index: HistoryIndex, origin: str = "import:a") -> dict[date, int]:
    """Facts for every day of 2025 (a weekly pattern: fewer answers at weekends); returns n per day."""
    n_of = {}
    day = date(2025, 1, 1)
    while day.year == 2025:
        n = 40 if day.weekday() < 5 else 12
        start = to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))
        for region, share in (("emea", 3), ("amer", 1)):
            key = FactKey("csat.delivery", DAY_MS, start, origin, ("logistics", region, "-", "delivery", "-", "-"))
            index.apply(key.encode(), HistoryFact(key, BASE.definition("csat.delivery").dimensions,
                                                  Sufficient(hist={5: n * share, 1: share}), {}, 1))  # fmt: skip
        n_of[day] = (n + 1) * 4
        day += timedelta(days=1)
    return n_of


@pytest.mark.parametrize("grain", [Grain.MONTH, Grain.QUARTER, Grain.YEAR, Grain.WEEK])
def test_months_quarters_and_years_add_up_their_days(grain: Grain) -> None:
    index = HistoryIndex()
    n_of = synthetic_year(index)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    view = history_view(BASE, index, "csat.delivery", grain, date(2025, 1, 1), date(2025, 12, 31), now=now)
    for point in view.points:
        want = sum(n for d, n in n_of.items() if point.start.date() <= d < point.end.date())
        assert point.estimate.n == want and point.imported
    assert sum(p.estimate.n for p in view.points) == sum(n_of.values())
    only_amer = history_view(BASE, index, "csat.delivery", grain, date(2025, 1, 1), date(2025, 12, 31), now=now,
                             where={"region": "amer"})  # fmt: skip
    assert sum(p.estimate.n for p in only_amer.points) == sum(n_of.values()) // 4


def test_retention_drops_days_older_than_the_definition_keeps() -> None:
    index = HistoryIndex()
    synthetic_year(index)
    later = datetime(2027, 7, 1, tzinfo=UTC)  # two years back from here is 2025-07-01
    view = history_view(BASE, index, "csat.delivery", Grain.MONTH, date(2025, 1, 1), date(2025, 12, 31), now=later)
    assert [p.estimate.n for p in view.points[:6]] == [0] * 6 and view.points[6].estimate.n > 0


def test_history_records_round_trip_through_avro() -> None:
    from cxstream.domain.history.facts import entry_from_record

    codec = CodecFactory(SchemaCatalog.from_dir(ROOT / "schemas")).for_topic("cx.metrics.history",
                                                                             "cxstream.HistoryRecord")  # fmt: skip
    for fact in WORKER.published[:50]:
        assert entry_from_record(codec.decode(codec.encode(fact.to_record()))) == fact
    closure = HistoryClosed("p2", to_ms(MONDAY), 6)
    assert entry_from_record(codec.decode(codec.encode(closure.to_record()))) == closure


def test_bad_history_settings_name_file_line_and_field(tmp_path: Path) -> None:
    for name in ("topics", "validation", "reference", "teams", "journey", "verbatims", "connectors", "alerting",
                 "cases", "access"):  # fmt: skip
        (tmp_path / f"{name}.yaml").write_text((ROOT / "topologies" / f"{name}.yaml").read_text())
    text = (ROOT / "topologies/metrics.yaml").read_text()
    bad = text.replace("      owner: logistics\n", "      owner: logistics\n      history: {interval: 10m}\n", 1)
    (tmp_path / "metrics.yaml").write_text(bad)
    catalog = SchemaCatalog.from_dir(ROOT / "schemas")
    with pytest.raises(ConfigError, match=r"metrics.yaml:\d+.*interval"):
        load_topology(tmp_path, catalog.names(), {"crm", "erp", "helpdesk", "canonical"})
    (tmp_path / "metrics.yaml").write_text(text.replace("{id: 1d, kind: lagging", "{id: history, kind: lagging"))
    with pytest.raises(ConfigError, match="history"):
        load_topology(tmp_path, catalog.names(), {"crm", "erp", "helpdesk", "canonical"})


def test_a_fold_cut_short_is_not_counted_twice_in_a_closed_day() -> None:
    rng = random.Random(5)
    worker = Worker(SPEC)
    day = MONDAY + timedelta(days=1)
    for i in range(300):
        worker.read(
            event(rng, i, day + timedelta(minutes=rng.uniform(0, 1439))).model_copy(update={"customer_id": "c3"})
        )
    now_ms = to_ms(day + timedelta(days=1, hours=7))
    plan = housekeeping(worker.cells(), 0, now_ms, SPEC)
    assert plan.writes and plan.deletes
    crashed = [Cell(k, v) for k, v in {**worker.table, **plan.writes}.items()]  # the deletions never happened
    folded = {**worker.table, **plan.writes}
    for key in plan.deletes:
        del folded[key]
    done = [Cell(k, v) for k, v in folded.items()]
    watermark = now_ms

    def days(cells: list[Cell]) -> dict[FactKey, tuple[dict[int, int], int]]:
        facts = closing_facts(SPEC, cells, 0, watermark, lambda k: None, now_ms)
        return {f.key: (f.stats.hist, f.stats.n) for f in facts if f.key.period_ms == DAY_MS}

    assert days(crashed) == days(done) == days(worker.cells())


def test_contacts_are_counted_with_the_exact_poisson_interval() -> None:
    from cxstream.domain.metrics.stats import contact_count

    # Garwood's exact 95 % limits, as tabulated (e.g. Ulm 1990): 10 -> 4.795-18.390, 0 -> 0-3.689
    ten = contact_count(Sufficient(n=10), confidence=0.95, min_n=30)
    assert (ten.value, ten.n, round(ten.low or 0, 3), round(ten.high or 0, 3)) == (10.0, 10, 4.795, 18.390)
    none = contact_count(Sufficient(), confidence=0.95, min_n=30)
    assert (none.value, none.low, round(none.high or 0, 3), none.insufficient) == (0.0, 0.0, 3.689, False)
    created = CanonicalEvent.model_validate({
        "event_id": "t-1", "event_type": EventType.TICKET_CREATED, "event_time": MONDAY, "ingest_time": MONDAY,
        "source": "helpdesk", "source_record_id": "1", "journey_stage": "support", "channel": "chat",
        "operation": Operation(ticket_id="1"),
    })  # fmt: skip
    counted = {u.key.definition: u.delta.n for u in updates_for(BASE, created, 0)}
    assert counted == {"contacts": 1}


def test_intervals_are_kept_thirteen_weeks_by_default_and_days_two_years() -> None:
    index = HistoryIndex()
    policy = SPEC.definition("delivery_delay").history
    assert (policy.retention, policy.interval, policy.interval_retention) == ("2y", "15m", "13w")
    old = to_ms(MONDAY - timedelta(weeks=20))
    for period in (DAY_MS, 900_000):
        key = FactKey("delivery_delay", period, old, "p0", ("logistics",) * 6)
        index.apply(key.encode(), HistoryFact(key, SPEC.definition("delivery_delay").dimensions, Sufficient(n=3)))
    day = (MONDAY - timedelta(weeks=20)).date()
    intervals = history_view(SPEC, index, "delivery_delay", Grain.INTERVAL, day, day, now=MONDAY)
    days = history_view(SPEC, index, "delivery_delay", Grain.DAY, day, day, now=MONDAY)
    assert sum(p.stats.n for p in intervals.points) == 0 and days.points[0].stats.n == 3
