"""The remediation backlog on a worker: a feed that reads ``cx.remediation`` whole and follows it, folding each
action into its item (no group: every worker has the whole backlog to answer the API and the page)."""

from __future__ import annotations

from typing import Any

from cxstream.agents.history import TopicFeed
from cxstream.domain.catalog import Topics
from cxstream.domain.remediation.backlog import Backlog
from cxstream.domain.remediation.records import action_from_record
from cxstream.domain.remediation.spec import Remediation
from cxstream.observability.logging import get_logger
from cxstream.serde.avro import AvroCodec, DecodeError

log = get_logger(__name__)


class RemediationFeed(TopicFeed):
    topic = Topics.REMEDIATION

    def __init__(self, client_options: dict[str, Any], codec: AvroCodec, spec: Remediation) -> None:
        super().__init__(client_options)
        self.codec = codec
        self.backlog = Backlog(spec)
        self.seen: set[str] = set()  # action ids folded: the feed reads from the start again after a broker error
        self.undecodable = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            action = action_from_record(self.codec.decode(value))
        except (DecodeError, ValueError, KeyError) as exc:
            self.undecodable += 1
            log.warning("remediation_record_undecodable", error=str(exc)[:200])
            return
        if action.action_id in self.seen:
            return
        self.seen.add(action.action_id)
        entry = self.backlog.record(action)
        if entry.refused:
            log.info("remediation_action_refused", item_id=action.item_id, action=action.action.value,
                     reason=entry.refused)  # fmt: skip
