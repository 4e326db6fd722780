"""Housekeeping cadence (a fraction of the keys' lifetime, per partition) and typed table stores."""

from __future__ import annotations

from cxstream.agents.housekeeping import PartitionClock, cadence_s
from cxstream.agents.stores import Store
from cxstream.domain.ingest.memory import RawPosition, SeenEvent, TicketCreation
from cxstream.domain.metrics.cells import AppliedEvent


def test_cadence_is_a_hundredth_of_the_lifetime_and_at_least_a_minute() -> None:
    assert cadence_s(7 * 86_400_000) == 6048.0  # a week of ids: about every 100 minutes
    assert cadence_s(60_000) == 60.0


def test_each_partition_is_due_once_then_waits() -> None:
    clock = PartitionClock(86_400_000)
    assert clock.due(0) and clock.due(1)
    assert not clock.due(0) and not clock.due(1)


def test_expire_takes_only_old_keys_of_its_partition() -> None:
    raw: dict[str, object] = {"a": [10, 0], "b": [10, 1], "c": [99, 0], "d": None}
    tickets = Store(raw, TicketCreation.from_json, TicketCreation.to_json)
    assert tickets.expire(0, 50, partition_of=lambda t: t.partition, time_of=lambda t: t.created_ms) == 1
    assert set(raw) == {"b", "c", "d"}
    seen = Store({"x": [7, 10, 2], "y": [8, 90, 2]}, AppliedEvent.from_json, AppliedEvent.to_json)
    assert seen.expire(2, 50, partition_of=lambda a: a.partition, time_of=lambda a: a.event_ms) == 1
    assert set(seen.table) == {"y"}


def test_a_store_keeps_the_json_the_table_held_and_reads_it_back_by_name() -> None:
    raw: dict[str, object] = {}
    seen = Store(raw, SeenEvent.from_json, SeenEvent.to_json)
    seen["e1"] = SeenEvent(1_000, 3, RawPosition("crm.raw", 42))
    assert raw == {"e1": [1_000, 3, "crm.raw", 42]}  # the changelog value is unchanged by the type
    raw["e0"] = [500, 1]  # written before the raw record was kept
    assert seen.get("e0") == SeenEvent(500, 1) and seen.get("missing") is None
    assert "e1" in seen and "missing" not in seen
    assert dict(seen.items())["e1"].first == RawPosition("crm.raw", 42)
    del seen["e1"]
    assert list(seen.values()) == [SeenEvent(500, 1)]
