"""What normalization remembers between records, as table values: the event ids it published (to drop
duplicates) and when each ticket was opened (to fill creation times into later events of the ticket)."""

from __future__ import annotations

from dataclasses import dataclass

from cxstream.domain.base import Json, as_int, as_str, seq
from cxstream.domain.ingest.validation import is_duplicate


@dataclass(frozen=True)
class RawPosition:
    """Where a raw record was read: its topic and offset (the partition is the table's own)."""

    topic: str
    offset: int


@dataclass(frozen=True)
class SeenEvent:
    """An event id published once: when, from which raw partition, and from which raw record. Stored as
    ``[first seen ms, partition, raw topic, raw offset]`` (entries written before the record was kept carry
    only the first two)."""

    first_seen_ms: int
    partition: int
    first: RawPosition | None = None

    def to_json(self) -> list[Json]:
        head: list[Json] = [self.first_seen_ms, self.partition]
        return head if self.first is None else [*head, self.first.topic, self.first.offset]

    @classmethod
    def from_json(cls, data: object) -> SeenEvent:
        items = seq(data, "seen event")
        first = RawPosition(as_str(items[2]), as_int(items[3])) if len(items) >= 4 else None
        return cls(as_int(items[0]), as_int(items[1]), first)

    def duplicates(self, now_ms: int, horizon_ms: int, position: RawPosition) -> bool:
        """Whether an event with this id read at ``position`` is a duplicate (see :func:`is_duplicate`)."""
        first = (self.first.topic, self.first.offset) if self.first is not None else None
        return is_duplicate(self.first_seen_ms, now_ms, horizon_ms, first, (position.topic, position.offset))


@dataclass(frozen=True)
class TicketCreation:
    """When a ticket was opened, the raw partition that saw it, and what its life has held since: public agent
    replies (touches), reopens, its first reply and its last solving (what a rating of the ticket is weighed
    against: ``domain.tolerance``). Stored as ``[created ms, partition]``, with ``touches, reopens`` after them
    once either is counted, and ``first reply ms, solved ms`` (either may be null) after those once either is
    known (entries written before they were kept carry fewer)."""

    created_ms: int
    partition: int
    touches: int = 0
    reopens: int = 0
    first_reply_ms: int | None = None
    solved_ms: int | None = None

    def to_json(self) -> list[Json]:
        head: list[Json] = [self.created_ms, self.partition]
        if self.first_reply_ms is not None or self.solved_ms is not None:
            return [*head, self.touches, self.reopens, self.first_reply_ms, self.solved_ms]
        return head if not (self.touches or self.reopens) else [*head, self.touches, self.reopens]

    @classmethod
    def from_json(cls, data: object) -> TicketCreation:
        items = seq(data, "ticket creation")
        if len(items) >= 6:
            return cls(as_int(items[0]), as_int(items[1]), as_int(items[2]), as_int(items[3]),
                       None if items[4] is None else as_int(items[4]),
                       None if items[5] is None else as_int(items[5]))  # fmt: skip
        if len(items) >= 4:
            return cls(as_int(items[0]), as_int(items[1]), as_int(items[2]), as_int(items[3]))
        return cls(as_int(items[0]), as_int(items[1]))
