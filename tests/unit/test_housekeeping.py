"""Housekeeping cadence: a fraction of the keys' lifetime, per partition."""

from __future__ import annotations

from cxstream.agents.housekeeping import PartitionClock, cadence_s, expire


def test_cadence_is_a_hundredth_of_the_lifetime_and_at_least_a_minute() -> None:
    assert cadence_s(7 * 86_400_000) == 6048.0  # a week of ids: about every 100 minutes
    assert cadence_s(60_000) == 60.0


def test_each_partition_is_due_once_then_waits() -> None:
    clock = PartitionClock(86_400_000)
    assert clock.due(0) and clock.due(1)
    assert not clock.due(0) and not clock.due(1)


def test_expire_takes_only_old_keys_of_its_partition() -> None:
    table = {"a": [10, 0], "b": [10, 1], "c": [99, 0], "d": None}
    assert expire(table, 0, cutoff_ms=50) == 1
    assert set(table) == {"b", "c", "d"}
    seen = {"x": [7, 10, 2], "y": [8, 90, 2]}
    assert expire(seen, 2, cutoff_ms=50, time_at=1, partition_at=2) == 1 and set(seen) == {"y"}
