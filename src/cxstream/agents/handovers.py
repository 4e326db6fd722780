"""Shift handovers on the workers.

* :class:`HandoverFeed` (every worker): reads the routing side's topics (``cx.breaches``, ``cx.cases``,
  ``cx.case-actions``, ``cx.silences``) into a :class:`ShiftLedger`, and ``cx.handovers`` with
  ``cx.handover-acks`` into a :class:`HandoverBook` (what the API and the page show).
* :class:`HandoverWatch` (the routing side, on its tick): publishes each declared shift's handover once the shift
  has ended (plus the grace), with the team's metrics that moved most from the live tables; republishes
  handovers that are acknowledged or overdue, and hands the routing desk a ``HANDOVER`` breach for each one not
  acknowledged in time (resolved by its acknowledgement). What it sent is remembered until the feed reads it
  back, so a tick never publishes a handover twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import faust

from cxstream.agents.history import TopicFeed
from cxstream.domain.alerting.records import Breach
from cxstream.domain.base import now_ms
from cxstream.domain.catalog import Topics
from cxstream.domain.handovers.build import build_handover
from cxstream.domain.handovers.duty import decide
from cxstream.domain.handovers.ledger import RETAIN_MS, ShiftLedger
from cxstream.domain.handovers.moves import metric_moves
from cxstream.domain.handovers.records import Handover, HandoverAck, HandoverBook
from cxstream.domain.handovers.spec import HandoverSpec, ended_between
from cxstream.domain.metrics.cells import Cell
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import HANDOVERS_PUBLISHED
from cxstream.serde.avro import AvroCodec, DecodeError

log = get_logger(__name__)

LEDGER_TOPICS = (Topics.BREACHES, Topics.CASES, Topics.CASE_ACTIONS, Topics.SILENCES)
BOOK_TOPICS = (Topics.HANDOVERS, Topics.HANDOVER_ACKS)


class HandoverFeed(TopicFeed):
    topics = (*LEDGER_TOPICS, *BOOK_TOPICS)

    def __init__(self, client_options: dict[str, Any], codecs: Mapping[str, AvroCodec]) -> None:
        super().__init__(client_options)
        self.codecs = dict(codecs)
        self.ledger = ShiftLedger()
        self.book = HandoverBook()
        self.undecodable = 0
        self._forgot_ms = 0

    def apply_from(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            record = self.codecs[topic].decode(value)
            if topic == Topics.BREACHES:
                self.ledger.add_breach(record)
            elif topic == Topics.CASES:
                self.ledger.add_case(record)
            elif topic == Topics.CASE_ACTIONS:
                self.ledger.add_action(record)
            elif topic == Topics.SILENCES:
                self.ledger.add_silence(record)
            elif topic == Topics.HANDOVERS:
                self.book.add(Handover.from_record(record))
            else:
                self.book.acknowledge(HandoverAck.from_record(record))
        except (DecodeError, ValueError, KeyError, TypeError) as exc:
            self.undecodable += 1
            log.warning("handover_feed_undecodable", topic=topic, error=str(exc)[:200])

    def after_batch(self) -> None:
        now = now_ms()
        if now - self._forgot_ms > 3_600_000:
            self.ledger.forget(now - RETAIN_MS)
            self._forgot_ms = now


class HandoverWatch:
    def __init__(self, app: faust.App, spec: HandoverSpec, metrics: MetricsSpec, feed: HandoverFeed,
                 cells: Callable[[], list[Cell]], serializer: str) -> None:  # fmt: skip
        self.spec = spec
        self.metrics = metrics
        self.feed = feed
        self.cells = cells
        self.topic: Any = app.topic(Topics.HANDOVERS, key_type=bytes, key_serializer="raw", value_serializer=serializer)
        self.started_ms = now_ms()
        self.sent: dict[str, int] = {}  # handover id -> the version sent, until the feed has read it back
        self.pending: list[Handover] = []

    def _known(self) -> dict[str, Handover]:
        """Handovers as published, with what this watch sent and the feed has not read back yet."""
        known = dict(self.feed.book.handovers)
        for h in self.pending:
            known[h.handover_id] = h
        return known

    def evaluate(self, at_ms: int) -> list[Breach]:
        """Handovers of shifts that ended, and the breaches of the ones overdue or acknowledged after escalating."""
        if not self.feed.ready:
            return []
        since = max(self.started_ms - self.spec.ack_within_ms, at_ms - RETAIN_MS // 2)
        cells: list[Cell] | None = None
        for team in self.spec.teams:
            for window in ended_between(team, since, at_ms - self.spec.grace_ms):
                if window.handover_id in self.feed.book.handovers or window.handover_id in self.sent:
                    continue
                if cells is None:
                    cells = self.cells()
                moves = metric_moves(self.metrics, cells, team.team, window, self.spec.top_metrics)
                handover = build_handover(self.spec, team, window, self.feed.ledger, moves, at_ms)
                self._queue(handover)
                log.info("handover_built", handover_id=handover.handover_id, breaches=len(handover.breaches),
                         cases=len(handover.cases), pick_up=len(handover.pick_up))  # fmt: skip
        breaches = []
        for handover, breach in decide(self._known(), self.feed.book.acks, self.spec, at_ms).republish:
            if self._queue(handover) and breach is not None:
                breaches.append(breach)
        return breaches

    def _queue(self, handover: Handover) -> bool:
        """Queues a handover to publish unless this version (or a later one) went out already."""
        if self.sent.get(handover.handover_id, -1) >= handover.version:
            return False
        self.sent[handover.handover_id] = handover.version
        self.pending = [h for h in self.pending if h.handover_id != handover.handover_id] + [handover]
        return True

    async def publish(self) -> None:
        pending, self.pending = self.pending, []
        for handover in pending:
            await self.topic.send(key=handover.key, value=handover.record())
            state = ("acknowledged" if handover.acknowledged_by else "escalated" if handover.escalated_ms else
                     "published")  # fmt: skip
            HANDOVERS_PUBLISHED.labels(team=handover.team, state=state).inc()
        for handover_id, version in list(self.sent.items()):
            held = self.feed.book.handovers.get(handover_id)
            if held is not None and held.version >= version:
                del self.sent[handover_id]  # read back: the book knows it now
