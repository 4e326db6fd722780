"""Faust tables seen through their value types: one :class:`Store` per table, so that what a table holds is
encoded and decoded in one place (the value type's ``to_json``/``from_json``, defined in ``domain/``) and every
reader gets named fields, never a positional list or a bare dict.

The stored JSON is exactly what the tables held before the types existed: a store changes no changelog record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class Store(Generic[V]):
    """A table of ``V`` values under text keys. ``table`` is the Faust table itself (for its changelog, its
    partitions and the worker that holds them)."""

    def __init__(self, table: Any, decode: Callable[[Any], V], encode: Callable[[V], object]) -> None:
        self.table = table
        self._decode = decode
        self._encode = encode

    def get(self, key: str) -> V | None:
        raw = self.table.get(key)
        return None if raw is None else self._decode(raw)

    def __setitem__(self, key: str, value: V) -> None:
        self.table[key] = self._encode(value)

    def __delitem__(self, key: str) -> None:
        del self.table[key]

    def __contains__(self, key: str) -> bool:
        return self.table.get(key) is not None

    def items(self) -> Iterator[tuple[str, V]]:
        """Every stored value with its key (a snapshot: the table may change while the caller iterates)."""
        for key, raw in list(self.table.items()):
            if raw is not None:
                yield key, self._decode(raw)

    def values(self) -> Iterator[V]:
        for _, value in self.items():
            yield value

    def expire(self, partition: int, cutoff_ms: int, *, partition_of: Callable[[V], int],
               time_of: Callable[[V], int]) -> int:  # fmt: skip
        """Delete the values of ``partition`` whose time is before ``cutoff_ms``. Only inside the agent's
        iteration over a record of that partition (a deletion goes to the current record's changelog
        partition). Returns how many went."""
        stale = [key for key, value in self.items() if partition_of(value) == partition and time_of(value) < cutoff_ms]
        for key in stale:
            del self.table[key]
        return len(stale)
