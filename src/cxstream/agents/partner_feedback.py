"""Partner feedback on the workers. The events monitor hands each canonical PARTNER_FEEDBACK event to the sink,
which republishes it as a typed record on ``cx.partner-feedback`` (one without what feedback needs goes to the
dead-letter topic with the reason); every worker folds that topic into a :class:`FeedbackBook` for the API and
the page; the leader, on a timer, proposes the revisions that are due (a remediation item and a governance
proposal each, with ids from the playbook, its version and the step, so a revision found twice - a new
leader, a restart - is proposed once)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import faust

from cxstream.agents.history import TopicFeed
from cxstream.agents.remediation_feed import RemediationFeed
from cxstream.domain.base import now_ms
from cxstream.domain.catalog import Topics
from cxstream.domain.ingest.events import CanonicalEvent
from cxstream.domain.locations import governance_records
from cxstream.domain.locations.feedback import FeedbackBook, PartnerFeedback, deciding_committee, due_revisions
from cxstream.domain.locations.governance import Governance
from cxstream.domain.locations.playbooks import Playbooks
from cxstream.domain.remediation.records import action_record
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import PARTNER_FEEDBACK, PLAYBOOK_REVISIONS
from cxstream.serde.avro import AvroCodec, DecodeError

FEEDBACK_TOPIC = Topics.PARTNER_FEEDBACK
log = get_logger(__name__)


class FeedbackSink:
    """Republishes partner feedback from ``cx.events``; used inside the events monitor's iteration."""

    def __init__(self, app: faust.App, serializer: str, regions: Mapping[str, str]) -> None:
        self.regions = dict(regions)
        self.topic = app.topic(FEEDBACK_TOPIC, key_type=bytes, key_serializer="raw", value_serializer=serializer)

    async def publish(self, event: CanonicalEvent) -> PartnerFeedback:
        """Raises :class:`~cxstream.domain.locations.feedback.FeedbackError` for an event that is not feedback."""
        feedback = PartnerFeedback.from_event(event)
        if feedback.region is None and feedback.site in self.regions:
            feedback = replace(feedback, region=self.regions[feedback.site])
        await self.topic.send(key=feedback.feedback_id.encode(), value=feedback.record())
        PARTNER_FEEDBACK.labels(severity=feedback.severity.value).inc()
        return feedback


class FeedbackFeed(TopicFeed):
    """Reads ``cx.partner-feedback`` whole into a :class:`FeedbackBook` and follows it."""

    topic = FEEDBACK_TOPIC

    def __init__(self, client_options: dict[str, Any], codec: AvroCodec) -> None:
        super().__init__(client_options)
        self.codec = codec
        self.book = FeedbackBook()
        self.undecodable = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            self.book.add(PartnerFeedback.from_record(self.codec.decode(value)))
        except (DecodeError, ValueError, KeyError) as exc:
            self.undecodable += 1
            log.warning("partner_feedback_undecodable", error=str(exc)[:200])

    def on_ready(self) -> None:
        log.info("partner_feedback_loaded", reports=len(self.book.reports))


class Revisions:
    """The leader's timer: the revisions partner feedback has made due, proposed once each."""

    def __init__(self, app: faust.App, spec: Playbooks, governance: Governance, feed: FeedbackFeed,
                 backlog: RemediationFeed | None, proposals: Any, serializers: Mapping[str, str]) -> None:  # fmt: skip
        self.spec = spec
        self.feed = feed
        self.backlog = backlog
        self.proposals = proposals  # the governance feed (web.governance.GovernanceFeed), or None
        self.committee = deciding_committee(spec.feedback, governance) if proposals is not None else None
        self.remediation = (
            app.topic(Topics.REMEDIATION, key_type=bytes, key_serializer="raw",
                      value_serializer=serializers[Topics.REMEDIATION]) if backlog is not None else None
        )  # fmt: skip
        self.governance = (
            app.topic(Topics.GOVERNANCE, key_type=bytes, key_serializer="raw",
                      value_serializer=serializers[Topics.GOVERNANCE]) if proposals is not None else None
        )  # fmt: skip

    def ready(self) -> bool:
        feeds = [self.feed, self.backlog, self.proposals]
        return all(f.ready for f in feeds if f is not None)

    async def propose(self) -> int:
        """Sends what is due and not yet on the topics; the number of actions sent."""
        if not self.ready():
            return 0
        at = now_ms()
        sent = 0
        for revision in due_revisions(self.feed.book.steps(self.spec, at), self.spec, self.committee, at):
            before = sent
            if self.remediation is not None and self.backlog is not None and \
                    revision.item.action_id not in self.backlog.seen:  # fmt: skip
                await self.remediation.send(key=revision.item.item_id.encode(), value=action_record(revision.item))
                sent += 1
            proposal = revision.proposal
            if proposal is not None and self.governance is not None and proposal.action_id not in self.proposals.seen:
                await self.governance.send(key=proposal.proposal_id.encode(),
                                           value=governance_records.action_record(proposal))  # fmt: skip
                sent += 1
            if sent > before:
                PLAYBOOK_REVISIONS.inc()
                log.info("playbook_revision_proposed", item_id=revision.item.item_id, title=revision.item.title)
        return sent


def register(app: faust.App, revisions: Revisions, every_seconds: float = 30.0) -> None:
    @app.timer(every_seconds, on_leader=True)  # type: ignore[untyped-decorator]
    async def propose_revisions() -> None:
        await revisions.propose()
