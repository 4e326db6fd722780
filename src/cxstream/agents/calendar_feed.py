"""The workforce calendar on a worker: a feed that reads the compacted ``cx.workforce-calendar`` topic whole and
follows it, keeping the latest record of each entry (no group: every worker has them all)."""

from __future__ import annotations

from typing import Any

from cxstream.agents.history import TopicFeed
from cxstream.domain.catalog import Topics
from cxstream.domain.workforce.calendar import CalendarEntry
from cxstream.observability.logging import get_logger
from cxstream.serde.avro import AvroCodec, DecodeError

log = get_logger(__name__)


class CalendarFeed(TopicFeed):
    topic = Topics.CALENDAR

    def __init__(self, client_options: dict[str, Any], codec: AvroCodec) -> None:
        super().__init__(client_options)
        self.codec = codec
        self.entries: dict[str, CalendarEntry] = {}
        self.undecodable = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            if key is not None:
                self.entries.pop(key.decode(errors="replace"), None)  # a tombstone deletes the entry
            return
        try:
            entry = CalendarEntry.from_record(self.codec.decode(value))
        except (DecodeError, ValueError, KeyError) as exc:
            self.undecodable += 1
            log.warning("calendar_record_undecodable", error=str(exc)[:200])
            return
        kept = self.entries.get(entry.entry_id)
        if kept is None or entry.updated_ms >= kept.updated_ms:
            self.entries[entry.entry_id] = entry
