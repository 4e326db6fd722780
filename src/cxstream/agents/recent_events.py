"""The canonical events this worker published last, by the exact bytes it published: the events agent and the
scorecards' ticket feed read ``cx.events`` back in the same process, and an event found here is not decoded again
(the Avro decode and the canonical model cost about 30 µs a record, for each reader).

The bytes are the key, so a reader gets an event only for the very record the worker wrote (a canonical event
survives its Avro round trip unchanged: ``test_recent_events``). The oldest entries go first; a reader further
behind than ``SIZE`` events, or reading another worker's events, decodes them as before.
"""

from __future__ import annotations

from collections import OrderedDict

from cxstream.domain.ingest.events import CanonicalEvent
from cxstream.observability.metrics import EVENTS_READ_BACK, child

#: Events kept (about 7 KB each with its bytes): at 1,000 records/s, about the last second.
SIZE = 1024


class RecentEvents:
    def __init__(self, size: int = SIZE) -> None:
        self._size = size
        self._events: OrderedDict[bytes, CanonicalEvent] = OrderedDict()

    def __len__(self) -> int:
        return len(self._events)

    def remember(self, value: bytes, event: CanonicalEvent) -> None:
        """``event`` was published as ``value``."""
        self._events[value] = event
        if len(self._events) > self._size:
            self._events.popitem(last=False)

    def find(self, value: bytes | None, reader: str) -> CanonicalEvent | None:
        """The event published as ``value`` when it is still at hand (counted per ``reader`` either way)."""
        event = self._events.get(value) if value is not None else None
        child(EVENTS_READ_BACK, reader, "decoded" if event is None else "found").inc()
        return event
