"""Metric tables as pure functions: which events count, how cells update, how windows and scopes read back."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.app import load_context
from cxstream.config.topology import load_topology
from cxstream.config.yaml_source import ConfigError
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation, Survey, SurveyMetric
from cxstream.domain.metrics.cells import Cell, CellKey, CellValue, apply_update, housekeeping, is_expired
from cxstream.domain.metrics.measure import is_late, updates_for
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.domain.metrics.stats import Sufficient
from cxstream.domain.metrics.windows import history, read_window
from cxstream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_context(Settings()).topology.metrics
NOW = datetime(2026, 11, 24, 10, 2, 30, tzinfo=UTC)


def survey(
    metric: SurveyMetric, score: int, *, minutes_ago: float = 10, stage: str = "delivery", **kw: Any
) -> CanonicalEvent:
    when = NOW - timedelta(minutes=minutes_ago)
    base: dict[str, Any] = {
        "event_id": f"e{random.random()}", "event_type": EventType.SURVEY_RESPONSE, "event_time": when,
        "ingest_time": when + timedelta(seconds=5), "source": "crm", "source_record_id": "r", "team": "logistics",
        "region": "emea", "site": "ams-1", "journey_stage": stage, "touchpoint": "delivery", "channel": "email",
        "survey": Survey.on_standard_scale(metric, score),
    }  # fmt: skip
    base.update(kw)
    return CanonicalEvent.model_validate(base)


Table = dict[CellKey, CellValue]


def cells_of(table: Table) -> list[Cell]:
    return [Cell(key, value) for key, value in table.items()]


def table_after(events: list[tuple[CanonicalEvent, int, int]], spec: MetricsSpec = SPEC) -> Table:
    table: Table = {}
    for event, partition, offset in events:
        for update in updates_for(spec, event, partition):
            key = update.key
            value = apply_update(table.get(key), update, offset)
            if value is not None:
                table[key] = value
    return table


def test_a_delivery_csat_answer_writes_one_cell() -> None:
    updates = updates_for(SPEC, survey(SurveyMetric.CSAT, 5), partition=2)
    assert [(u.key.definition, u.key.grain) for u in updates] == [("csat.delivery", 300_000)]
    assert updates[0].key.scope == ("logistics", "emea", "ams-1", "delivery", "delivery", "email")
    assert updates[0].key.partition == 2 and updates[0].delta.hist == {5: 1}


def test_events_outside_every_definition_write_nothing() -> None:
    assert updates_for(SPEC, survey(SurveyMetric.CSAT, 5, stage="billing", touchpoint="billing"), 0) == []
    comment = survey(SurveyMetric.CSAT, 5).model_copy(update={"event_type": EventType.COMMENT, "survey": None})
    assert updates_for(SPEC, comment, 0) == []


def test_replaying_an_offset_changes_nothing() -> None:
    event = survey(SurveyMetric.NPS, 3, stage="relationship")
    once = table_after([(event, 0, 7)])
    twice = table_after([(event, 0, 7), (event, 0, 7), (event, 0, 5)])
    assert once == twice and len(once) == 1


def test_durations_and_sla() -> None:
    created = NOW - timedelta(hours=30)
    solved = CanonicalEvent.model_validate({
        "event_id": "t1", "event_type": EventType.TICKET_SOLVED, "event_time": NOW - timedelta(minutes=5),
        "ingest_time": NOW, "source": "helpdesk", "source_record_id": "t1", "journey_stage": "support",
        "operation": Operation(ticket_id="1", created_at=created, actual_at=NOW - timedelta(minutes=5)),
    })  # fmt: skip
    by_definition = {u.key.definition: u.delta for u in updates_for(SPEC, solved, 0)}
    resolution = by_definition["resolution"]
    assert resolution.n == 1 and resolution.hits == 0  # 29 h 55 min: outside the 24 h SLA
    assert resolution.mean == pytest.approx(29 + 55 / 60)
    assert by_definition["reopen_rate"].n == 1 and by_definition["reopen_rate"].hits == 0
    assert "handle_time" not in by_definition  # no time tracked on this ticket
    tracked = solved.model_copy(update={"operation": solved.operation.model_copy(update={"handle_seconds": 450})})
    handle = {u.key.definition: u.delta for u in updates_for(SPEC, tracked, 0)}["handle_time"]
    assert handle.n == 1 and handle.mean == pytest.approx(7.5)  # minutes


def test_late_events_are_judged_on_their_own_ingest_time() -> None:
    on_time = survey(SurveyMetric.CSAT, 4, minutes_ago=60 * 5)
    late = on_time.model_copy(update={"ingest_time": NOW + timedelta(hours=2)})
    assert not is_late(SPEC, on_time) and is_late(SPEC, late)


def test_windows_roll_up_exactly_over_scopes_partitions_and_buckets() -> None:
    rng = random.Random(4)
    events = []
    truth: dict[str, list[int]] = {"emea": [], "apac": []}
    for offset in range(600):
        region = rng.choice(["emea", "apac"])
        score = rng.randint(1, 5)
        minutes = rng.uniform(0, 55)
        site = {"emea": rng.choice(["ams-1", "lis-1"]), "apac": "sin-1"}[region]
        events.append(
            (survey(SurveyMetric.CSAT, score, minutes_ago=minutes, region=region, site=site), offset % 6, offset)
        )
        truth[region].append(score)
    store = cells_of(table_after(events))
    whole = read_window(SPEC, store, "csat.delivery", "1d", now=NOW)
    all_scores = truth["emea"] + truth["apac"]
    assert whole.estimate.n == 600
    assert whole.estimate.value == pytest.approx(100 * sum(s >= 4 for s in all_scores) / 600, abs=1e-9)
    emea = read_window(SPEC, store, "csat.delivery", "1h", now=NOW, where={"region": "emea"})
    assert emea.estimate.n == len(truth["emea"])
    assert emea.estimate.value == pytest.approx(100 * sum(s >= 4 for s in truth["emea"]) / len(truth["emea"]))
    with pytest.raises(KeyError, match="no dimension"):
        read_window(SPEC, store, "nps.relationship", "1h", now=NOW, where={"touchpoint": "delivery"})


def test_current_closed_and_history_windows() -> None:
    events = [(survey(SurveyMetric.CSAT, 5, minutes_ago=m), 0, i) for i, m in enumerate([1, 6, 11, 61, 300])]
    store = cells_of(table_after(events))
    current = read_window(SPEC, store, "csat.delivery", "1h", now=NOW)
    assert current.end == datetime(2026, 11, 24, 10, 5, tzinfo=UTC) and current.estimate.n == 3
    assert not current.final
    closed = read_window(SPEC, store, "csat.delivery", "1h", now=NOW, closed=True)
    assert closed.final and closed.end <= NOW - timedelta(hours=6)
    windows = history(SPEC, store, "csat.delivery", "1h", now=NOW, count=3)
    assert [w.end for w in windows] == [current.end - timedelta(minutes=5 * i) for i in range(3)]
    assert current.estimate.insufficient and current.estimate.describe().startswith("insufficient sample (n=3")


def test_weeks_start_on_monday_and_days_at_midnight_utc() -> None:
    week = read_window(SPEC, [], "csat.delivery", "7d", now=NOW)  # Tuesday 24 November 2026
    assert week.start == datetime(2026, 11, 23, tzinfo=UTC) and week.end == datetime(2026, 11, 30, tzinfo=UTC)
    day = read_window(SPEC, [], "csat.delivery", "1d", now=NOW, closed=True)
    assert day.start == datetime(2026, 11, 23, tzinfo=UTC) and day.final


def test_detractor_drivers_are_counted_per_window() -> None:
    table: Table = {}
    for offset, (score, drivers) in enumerate(
        [(1, ("delivery", "waiting_time")), (2, ("delivery",)), (5, ("delivery",))]
    ):
        for update in updates_for(SPEC, survey(SurveyMetric.CSAT, score), 0, drivers):
            table[update.key] = apply_update(table.get(update.key), update, offset)
    value = read_window(SPEC, cells_of(table), "csat.delivery", "1h", now=NOW)
    assert value.top_drivers == (("delivery", 2), ("waiting_time", 1))  # the promoter's drivers do not count


def test_folding_keeps_every_window_exact_even_when_cut_short() -> None:
    rng = random.Random(9)
    events = [
        (survey(SurveyMetric.CSAT, rng.randint(1, 5), minutes_ago=rng.uniform(1, 20 * 60)), rng.randint(0, 2), i)
        for i in range(800)
    ]
    table = table_after(events)
    windows = ("1h", "1d", "7d")

    def read(state: Table) -> dict[str, Any]:
        return {w: read_window(SPEC, cells_of(state), "csat.delivery", w, now=NOW).estimate for w in windows}

    before = read(table)
    now_ms = int(NOW.timestamp() * 1000)
    folded = dict(table)
    for partition in range(3):
        plan = housekeeping(cells_of(folded), partition, now_ms, SPEC)
        assert plan.writes and plan.deletes
        crashed = {**folded, **plan.writes}  # the hourly cells reached the changelog, the deletions did not
        assert read(crashed) == before
        assert not housekeeping(cells_of(crashed), partition, now_ms, SPEC).writes  # nothing is folded twice
        folded.update(plan.writes)
        for key in plan.deletes:
            del folded[key]
    assert len(folded) < len(table)
    assert read(folded) == before
    again = housekeeping(cells_of(folded), 0, now_ms, SPEC)
    assert not again.writes and not again.deletes

    # a consumer hours behind: an event accepted in time reaches a bucket after that bucket was folded
    straggler = survey(SurveyMetric.CSAT, 1, minutes_ago=9 * 60)  # its bucket was folded
    for update in updates_for(SPEC, straggler, 0):
        folded[update.key] = apply_update(folded.get(update.key), update, 10_000)
    day = read_window(SPEC, cells_of(folded), "csat.delivery", "1d", now=NOW).estimate
    assert day.n == before["1d"].n + 1
    plan = housekeeping(cells_of(folded), 0, now_ms, SPEC)
    assert len(plan.writes) == 1 and len(plan.deletes) == 1
    folded.update(plan.writes)
    del folded[plan.deletes[0]]
    assert read_window(SPEC, cells_of(folded), "csat.delivery", "1d", now=NOW).estimate == day


def test_a_replay_after_its_bucket_was_folded_is_not_counted_twice() -> None:
    event = survey(SurveyMetric.CSAT, 2, minutes_ago=9 * 60)
    table = table_after([(event, 0, 40)])
    now_ms = int(NOW.timestamp() * 1000)
    plan = housekeeping(cells_of(table), 0, now_ms, SPEC)
    (coarse,) = plan.writes.values()
    (update,) = updates_for(SPEC, event, 0)
    assert apply_update(None, update, 40, folded_into=coarse) is None  # replayed: already in the hourly cell
    assert apply_update(None, update, 41, folded_into=coarse) is not None  # a later event of the bucket counts
    assert apply_update(None, update, 40) is not None  # nothing folded: a missing cell is a missing write


def test_expired_cells() -> None:
    now_ms = int(NOW.timestamp() * 1000)
    fine = CellKey("csat.delivery", 300_000, now_ms - 6 * 3_600_000, 0, ())
    old = CellKey("csat.delivery", 300_000, now_ms - 8 * 3_600_000, 0, ())
    week = CellKey("csat.delivery", 3_600_000, now_ms - 6 * 86_400_000, 0, ())
    assert not is_expired(fine, now_ms, SPEC) and is_expired(old, now_ms, SPEC) and not is_expired(week, now_ms, SPEC)


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.tuples(st.integers(0, 10), st.integers(0, 5)), min_size=1, max_size=80))
def test_any_partitioning_gives_the_same_window(parts: list[tuple[int, int]]) -> None:
    events = [(survey(SurveyMetric.NPS, s, stage="relationship"), p, i) for i, (s, p) in enumerate(parts)]
    one = read_window(SPEC, cells_of(table_after([(e, 0, i) for e, _, i in events])), "nps.relationship", "1h", now=NOW)
    many = read_window(SPEC, cells_of(table_after(events)), "nps.relationship", "1h", now=NOW)
    assert one.estimate == many.estimate


def test_bad_metric_definitions_name_file_line_and_field(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(ROOT / "topologies", tmp_path / "t")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    path = tmp_path / "t/metrics.yaml"
    path.write_text(
        path.read_text().replace("owner: logistics\n", "owner: warehouse\n", 1).replace("hop: 5m", "hop: 7m")
    )
    with pytest.raises(ConfigError) as failure:
        load_topology(tmp_path / "t", {"cxstream.CanonicalEvent"})
    text = str(failure.value)
    assert "metrics.yaml:" in text and "whole multiples of its bucket" in text


def test_sufficient_values_survive_the_table_encoding() -> None:
    stats = Sufficient()
    stats.add_value(3.5, hit=True)
    assert Sufficient.from_json(stats.to_json()) == stats


def test_a_record_skipped_in_a_rebalance_counts_when_read_again_after_later_ones() -> None:
    """Offsets 10 and 11 skipped (fetched before a rebalance), 12-14 applied, then 10-14 read again: every one
    counts once. With only the highest offset per cell, 10 and 11 were refused as replays."""
    from cxstream.domain.metrics.cells import Progress

    events = {o: survey(SurveyMetric.CSAT, 5 if o % 2 else 1) for o in range(10, 15)}
    table: Table = {}
    progress = Progress(10)  # committed offset 10

    def handle(offset: int) -> None:
        progress.handled(offset)
        for update in updates_for(SPEC, events[offset], 0):
            value = apply_update(table.get(update.key), update, offset, floor=progress.floor)
            if value is not None:
                table[update.key] = value

    for offset in (12, 13, 14, 10, 11, 12, 13, 14):  # the skip, then the re-read from the committed offset
        handle(offset)
    [cell] = table.values()
    assert sum(cell.stats.hist.values()) == 5 and cell.offset == 14
    assert cell.floor == 15 and cell.recent == ()  # the gap closed: nothing left to remember
    # the same cell mid-gap, as another worker finds it after a rebalance: 10 and 11 still count there
    mid: Table = {}
    gap = Progress(10)
    for offset in (12, 13):
        gap.handled(offset)
        for update in updates_for(SPEC, events[offset], 0):
            mid[update.key] = apply_update(mid.get(update.key), update, offset, floor=gap.floor)  # type: ignore[assignment]
    [half] = mid.values()
    assert (half.floor, half.recent) == (10, (12, 13))
    restored = CellValue.from_json(half.to_json())
    assert restored == half
    assert not restored.holds(10) and not restored.holds(11) and restored.holds(12) and not restored.holds(14)


def test_cells_written_before_floors_count_everything_up_to_their_offset() -> None:
    legacy = CellValue.from_json({"n": 3, "o": 40})
    assert legacy.holds(40) and legacy.holds(12) and not legacy.holds(41)
    update = updates_for(SPEC, survey(SurveyMetric.CSAT, 5), 0)[0]
    value = apply_update(legacy, update, 42, floor=41)
    assert value is not None and value.floor == 41 and value.recent == (42,) and value.holds(40)


def test_progress_never_falls_behind_a_commit() -> None:
    from cxstream.domain.metrics.cells import Progress

    progress = Progress(5)
    for offset in (5, 6, 8, 9):
        progress.handled(offset)
    assert progress.floor == 7  # 7 not handled yet
    progress.committed(7)  # the next record to read is 7: nothing new
    assert progress.floor == 7
    progress.committed(8)  # 7 was handled by another worker: 8 and 9 follow
    assert progress.floor == 10
    progress.committed(3)
    progress.handled(2)
    assert progress.floor == 10
