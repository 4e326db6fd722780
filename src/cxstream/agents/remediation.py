"""The improvement loop on the workers: every worker folds ``cx.remediation`` into the backlog (for the API and the
page) and, on a timer, sums the live part of each comparison a rolled-out change is due over the ``cx.events``
partitions it holds, one partial per partition on an internal topic that every worker reads; the leader puts
the partials together with the closed days of the metric history and, once a change's comparisons are all
decided, records its verdict (VERIFY or FAIL, actor ``system:verdict``) on ``cx.remediation``. The verdict's id
comes from the item and its rollout, so a verdict found twice (a new leader, a restart) is recorded once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust

from cxstream.agents.history import HistoryFeed, TopicFeed
from cxstream.agents.metric_tables import MetricTables
from cxstream.agents.remediation_feed import RemediationFeed
from cxstream.domain.base import digest, now_ms
from cxstream.domain.catalog import Internal, Topics
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.metrics.windows import stats_between
from cxstream.domain.remediation.checks import EvidenceBook, ItemCheck, Partial, Wanted, check_item, wanted
from cxstream.domain.remediation.evidence import LIVE_DAYS
from cxstream.domain.remediation.items import VERDICT, Action, ItemAction, ItemState
from cxstream.domain.remediation.records import action_record
from cxstream.domain.remediation.spec import Remediation
from cxstream.domain.remediation.verdict import PrePost
from cxstream.observability.logging import get_logger

EVIDENCE_TOPIC = Internal.REMEDIATION_EVIDENCE
log = get_logger(__name__)


class EvidenceFeed(TopicFeed):
    """Reads the partials of every worker into an :class:`EvidenceBook`."""

    topic = EVIDENCE_TOPIC

    def __init__(self, client_options: dict[str, Any]) -> None:
        super().__init__(client_options)
        self.book = EvidenceBook()
        self.undecodable = 0

    def on_ready(self) -> None:
        log.info("remediation_evidence_ready", keys=len(self.book.partials))

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            self.book.add(Partial.decode(value))
        except (ValueError, KeyError, TypeError) as exc:
            self.undecodable += 1
            log.warning("remediation_evidence_undecodable", error=str(exc)[:200])


class Verdicts:
    """The timers, and what the API reads: each rolled-out item's check."""

    def __init__(self, app: faust.App, spec: Remediation, tables: MetricTables, history: HistoryFeed | None,
                 backlog: RemediationFeed, evidence: EvidenceFeed, remediation_serializer: str) -> None:  # fmt: skip
        self.spec = spec
        self.tables = tables
        self.history = history
        self.backlog = backlog
        self.evidence = evidence
        self.method = PrePost()
        #: other comparisons summed the same way (the experiments' arms): each gives its wants at a time
        self.sources: list[Callable[[int], list[Wanted]]] = []
        self.partials = app.topic(EVIDENCE_TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw",
                                  value_serializer="raw", internal=True, partitions=1)  # fmt: skip
        self.actions = app.topic(Topics.REMEDIATION, key_type=bytes, key_serializer="raw",
                                 value_serializer=remediation_serializer)  # fmt: skip

    def checks(self, now: int | None = None) -> dict[str, ItemCheck]:
        """Every rolled-out item's comparisons as the partials heard so far allow."""
        at = now_ms() if now is None else now
        wants = wanted(self.backlog.backlog, self.tables.spec, at)
        index = self.history.index if self.history is not None else None
        items = {w.item_id for w in wants}
        return {
            i: check_item(i, wants, self.tables.spec, index, self.evidence.book, self.spec.verdict, self.method)
            for i in sorted(items)
        }

    async def publish_partials(self) -> None:
        """This worker's partitions' live part of every wanted comparison."""
        if not self.backlog.ready or not self.tables.enabled:
            return
        at = now_ms()
        wants = wanted(self.backlog.backlog, self.tables.spec, at) + [w for f in self.sources for w in f(at)]
        self.evidence.book.forget(w.key for w in wants)
        if not wants:
            return
        split = (at // DAY_MS - LIVE_DAYS) * DAY_MS
        total = self.tables.coverage()[1]
        cells = self.tables.snapshot()
        for partition in sorted(self.tables.held_partitions()):
            mine = [c for c in cells if c.key.partition == partition]
            for want in wants:
                start = max(want.start_ms, split)
                stats, _ = stats_between(self.tables.spec, mine, want.metric, start, max(start, want.end_ms),
                                         want.where)  # fmt: skip
                partial = Partial(want.key, partition, total, split, want.end_ms, stats)
                await self.partials.send(key=want.key.encode(), value=partial.encode())

    async def record_verdicts(self) -> None:
        """The leader: a verdict for every rolled-out item whose comparisons are all decided."""
        if not self.backlog.ready or not self.evidence.ready:
            return
        for item_id, check in self.checks().items():
            item = self.backlog.backlog.items.get(item_id)
            if item is None or item.state is not ItemState.ROLLED_OUT or check.decision == "not yet":
                continue
            kind = ItemAction.VERIFY if check.decision == "verified" else ItemAction.FAIL
            rollout = item.first_rollout_ms or 0
            summary = "; ".join(
                c.summary + (f" ({', '.join(f'{k}={v}' for k, v in where.items())})" if where else "")
                for where, c in check.comparisons
            )  # fmt: skip
            action = Action(
                action_id=f"verdict-{digest(f'{item_id}|{rollout}|{len(item.rollouts)}')}", item_id=item_id,
                action=kind, actor=VERDICT, at_ms=now_ms(), metric=",".join(sorted({c.metric for _, c in
                check.comparisons})), comment=f"{self.method.name}: {summary}",
            )  # fmt: skip
            await self.actions.send(key=item_id.encode(), value=action_record(action))
            log.info("remediation_verdict", item_id=item_id, decision=check.decision)


def register(
    app: faust.App,
    spec: Remediation,
    tables: MetricTables,
    history: HistoryFeed | None,
    backlog: RemediationFeed,
    evidence: EvidenceFeed,
    remediation_serializer: str,
) -> Verdicts:
    verdicts = Verdicts(app, spec, tables, history, backlog, evidence, remediation_serializer)
    every = parse_duration_ms(spec.verdict.check_every) / 1000

    @app.task  # type: ignore[untyped-decorator]
    async def declare_evidence_topic() -> None:
        await verdicts.partials.maybe_declare()  # one partition, before the first partial (not auto-created)

    @app.timer(every)  # type: ignore[untyped-decorator]
    async def sum_partials() -> None:
        await verdicts.publish_partials()

    @app.timer(every, on_leader=True)  # type: ignore[untyped-decorator]
    async def decide() -> None:
        await verdicts.record_verdicts()

    return verdicts
