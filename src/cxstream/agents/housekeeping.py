"""When a partition's table housekeeping (expiring old keys) is due.

Faust tables can only change inside stream iteration, and a deletion goes to the changelog partition of the
record being processed, so each partition purges its own keys while it processes a record. Purging means a
scan of the table: it runs about a hundredth of the keys' lifetime apart (at least a minute), so keys expire
at most about 1 % late and a table that holds a week of ids is not scanned every minute.
"""

from __future__ import annotations

import time


def cadence_s(lifetime_ms: int) -> float:
    return max(60.0, lifetime_ms / 1000 / 100)


class PartitionClock:
    def __init__(self, lifetime_ms: int) -> None:
        self.every_s = cadence_s(lifetime_ms)
        self._last: dict[int, float] = {}

    def due(self, partition: int) -> bool:
        """True at most once per ``every_s`` for each partition (and at its first record)."""
        now = time.monotonic()
        last = self._last.get(partition)
        if last is not None and now - last < self.every_s:
            return False
        self._last[partition] = now
        return True
