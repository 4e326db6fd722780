"""The lives of helpdesk tickets on a worker, for scorecards: a feed that reads ``cx.events`` from its start
(its retention: 30 days as declared) and follows it, keeping per ticket what a scorecard credits (replies,
solves, reopens, ratings). Off the hot path: a plain consumer without a group, like the history feed; the
pipeline's agents do not wait for it. Tickets quiet for longer than ``scorecards.keep_days`` are dropped.
"""

from __future__ import annotations

from typing import Any

from cxstream.agents.dead_letters import message_headers
from cxstream.agents.history import TopicFeed
from cxstream.agents.recent_events import RecentEvents
from cxstream.domain.base import now_ms
from cxstream.domain.catalog import Topics
from cxstream.domain.ingest.events import TYPE_HEADER, CanonicalEvent, EventType
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.workforce.spec import ScorecardSpec
from cxstream.domain.workforce.tickets import TicketLife, add_event
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import SCORECARD_TICKETS
from cxstream.serde.avro import AvroCodec, DecodeError

log = get_logger(__name__)
#: Event types a scorecard reads (others are skipped before the canonical model is built).
READ = frozenset(t.value for t in (EventType.TICKET_CREATED, EventType.TICKET_REPLY, EventType.TICKET_SOLVED,
                                   EventType.TICKET_REOPENED, EventType.SURVEY_RESPONSE))  # fmt: skip
READER = "ticket-feed"  # in cxstream_events_read_back_total
EXPIRE_EVERY = 10_000  # records between sweeps of quiet tickets


class TicketFeed(TopicFeed):
    topic = Topics.EVENTS

    def __init__(self, client_options: dict[str, Any], codec: AvroCodec, spec: ScorecardSpec,
                 recent: RecentEvents | None = None) -> None:  # fmt: skip
        """An event this worker published itself is taken from ``recent`` when it is still there."""
        super().__init__(client_options)
        self.codec = codec
        self.recent = recent
        self.keep_ms = spec.keep_days * DAY_MS
        self.tickets: dict[str, TicketLife] = {}
        self.undecodable = 0
        self._since_sweep = 0

    def apply_message(self, tp: Any, message: Any) -> None:
        """Records whose type header names a type no scorecard reads are skipped undecoded."""
        kind = message_headers(message).get(TYPE_HEADER)
        if kind is not None and kind.decode(errors="replace") not in READ:
            return
        found = self.recent.find(message.value, READER) if self.recent is not None else None
        if found is not None:
            self.add(found)
            return
        self.apply(message.key, message.value)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            record = self.codec.decode(value)
        except (DecodeError, ValueError, KeyError):
            self.undecodable += 1  # the events agent dead-letters it; a scorecard just skips it
            return
        if record.get("event_type") not in READ:
            return
        try:
            event = CanonicalEvent.from_record(record)
        except ValueError:
            self.undecodable += 1
            return
        self.add(event)

    def add(self, event: CanonicalEvent) -> None:
        if event.event_type.value not in READ:
            return
        add_event(self.tickets, event)
        self._since_sweep += 1
        if self._since_sweep >= EXPIRE_EVERY:
            self.sweep(now_ms())

    def sweep(self, at_ms: int) -> int:
        """Drop the tickets quiet since before the keep window; how many went."""
        self._since_sweep = 0
        stale = [k for k, life in self.tickets.items() if life.last_ms < at_ms - self.keep_ms]
        for key in stale:
            del self.tickets[key]
        return len(stale)

    def after_batch(self) -> None:
        SCORECARD_TICKETS.set(len(self.tickets))

    def on_ready(self) -> None:
        log.info("tickets_loaded", tickets=len(self.tickets), undecodable=self.undecodable)
