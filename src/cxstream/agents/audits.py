"""Audits on the routing side: on each tick, once the metric history covers a closed audit period, the routing
agent judges the periods not judged before (from this worker's copy of the history, which every worker reads
whole), publishes each period's result on ``cx.audits`` and sends drifts as breaches through the routing desk.
Each audited scope's last period judged and open drift live in a one-partition table, so a restart neither
repeats nor forgets an audit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import faust

from cxstream.agents.stores import Store
from cxstream.domain.alerting.records import Breach
from cxstream.domain.catalog import Tables, Topics
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.impact.audits import Audit, AuditResult, Audits, DriftState, judge, run_audit, state_key
from cxstream.domain.locations.gaps import day_to_review
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient
from cxstream.domain.remediation.verdict import measured
from cxstream.observability.logging import get_logger

log = get_logger(__name__)


class AuditWatch:
    def __init__(self, app: faust.App, metrics: MetricsSpec, spec: Audits, regions: Mapping[str, str],
                 names: Mapping[str, str], index: Callable[[], HistoryIndex | None],
                 serializer: str) -> None:  # fmt: skip
        self.metrics = metrics
        self.spec = spec
        self.regions = dict(regions)
        self.names = dict(names)
        self.index = index
        self.table = Store(app.Table(Tables.AUDIT_STATES, default=None, key_type=str, value_type=None, partitions=1),
                           DriftState.from_json, DriftState.to_json)  # fmt: skip
        self.results: Any = app.topic(Topics.AUDITS, key_type=bytes, key_serializer="raw", value_serializer=serializer)
        self.pending: list[AuditResult] = []  # judged, to publish on the next send

    def evaluate(self, now_ms: int) -> list[Breach]:
        """The breaches of the periods not judged before (their results wait in ``pending``)."""
        index = self.index()
        if index is None or not self.spec.audits:
            return []
        through = day_to_review(now_ms, self.metrics.grace_ms) + DAY_MS  # the end of the last final day
        covered = index.coverage().through_ms
        if covered is not None:
            through = min(through, covered)
        states = {k: v for k, v in self.table.items() if isinstance(v, DriftState)}
        breaches: list[Breach] = []
        for audit in self.spec.audits:
            if not self._due(audit, states, through):
                continue  # every closed period of every scope judged already: no history read on this tick
            probe = measured(self.metrics.definition(audit.metric), Sufficient())
            results = run_audit(audit, self.metrics, index, through, self.names)
            changed, published, found = judge(audit, results, states, self.regions, now_ms,
                                              probe.higher_is_better if probe else True)  # fmt: skip
            for key, state in changed.items():
                self.table[key] = state
            self.pending.extend(published)
            breaches.extend(found)
            if published:
                log.info("audit_judged", audit_id=audit.id, periods=len(published),
                         drifts=sum(r.verdict == "drift" for r in published))  # fmt: skip
        return breaches

    @staticmethod
    def _due(audit: Audit, states: Mapping[str, DriftState], through: int) -> bool:
        periods = audit.periods(through)
        if not periods:
            return False
        last = periods[-1][0]
        for scope in audit.scopes:
            held = states.get(state_key(audit.id, scope))
            if held is None or held.last_period_ms is None or held.last_period_ms < last:
                return True
        return False

    async def publish(self) -> None:
        pending, self.pending = self.pending, []
        for result in pending:
            await self.results.send(key=result.key.encode(), value=result.record())
