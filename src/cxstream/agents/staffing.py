"""Live staffing on the routing side: the agents' presence (from ``AGENT_STATUS`` events forwarded on the
control topic) kept in a one-partition table, and on every tick each queue's floor weighed against its
forecast (:mod:`cxstream.domain.workforce.gaps`); the gaps become breaches that the routing desk sends on
like any other.

The forecast comes from this worker's copy of the metric history (every worker reads it whole); a queue's
plan is computed again only when the history has moved on (a period closed) or the day changed. Until the
history is loaded, no verdict: a partial history would forecast too few contacts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import faust

from cxstream.agents.stores import Store
from cxstream.domain.alerting.records import Breach
from cxstream.domain.catalog import Tables
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.workforce.gaps import GapState, Outlook, judge, outlook
from cxstream.domain.workforce.presence import Presence, Roster
from cxstream.domain.workforce.queues import QueuePlan, queue_plan
from cxstream.domain.workforce.spec import Queue, Workforce
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import QUEUE_AGENTS_REQUIRED, QUEUE_AGENTS_STAFFED, QUEUE_SERVICE_LEVEL

PRESENCE_TABLE = Tables.AGENT_PRESENCE
GAPS_TABLE = Tables.STAFFING_GAPS
log = get_logger(__name__)


@dataclass
class PlanCache:
    """Each queue's plan for the days around now, kept while the history's coverage and the day stay the same."""

    metrics: MetricsSpec
    workforce: Workforce
    index: Callable[[], HistoryIndex | None]
    _plans: dict[str, tuple[tuple[int | None, date, int], QueuePlan]] = field(default_factory=dict)

    def plan(self, queue: Queue, now_ms: int, look_ahead_ms: int) -> QueuePlan | None:
        index = self.index()
        if index is None:
            return None
        today = datetime.fromtimestamp(now_ms / 1000, UTC).date()
        midnight = now_ms - now_ms % DAY_MS
        days = 1 + (now_ms + look_ahead_ms - midnight) // DAY_MS
        key = (index.coverage().through_ms, today, int(min(days, self.workforce.forecast.horizon_days)))
        kept = self._plans.get(queue.id)
        if kept is None or kept[0] != key:
            kept = (key, queue_plan(self.metrics, self.workforce, queue, index, today, key[2]))
            self._plans[queue.id] = kept
        return kept[1]


class Staffing:
    """The presence and gap tables, and the evaluation the routing agent runs on each tick."""

    def __init__(self, app: faust.App, metrics: MetricsSpec, workforce: Workforce,
                 index: Callable[[], HistoryIndex | None]) -> None:  # fmt: skip
        self.workforce = workforce
        self.presence = Store(
            app.Table(PRESENCE_TABLE, default=None, key_type=str, value_type=None, partitions=1),
            Presence.from_json,
            Presence.to_json,
        )
        self.gaps = Store(
            app.Table(GAPS_TABLE, default=None, key_type=str, value_type=None, partitions=1),
            GapState.from_json,
            GapState.to_json,
        )
        self.plans = PlanCache(metrics, workforce, index)

    @property
    def active(self) -> bool:
        return bool(self.workforce.queues)

    def roster(self) -> Roster:
        return Roster({p.key: p for p in self.presence.values()})

    def on_presence(self, presence: Presence) -> bool:
        """Keep an agent's status change; False when it changes nothing (older than the one kept, or a replay)."""
        kept = self.presence.get(presence.key)
        changed = Roster({presence.key: kept} if kept else {}).apply(presence)
        if changed is None:
            return False
        self.presence[presence.key] = changed.entries[presence.key]
        return True

    def outlooks(self, now_ms: int) -> list[Outlook]:
        """Every queue's outlook now (empty while the history is not loaded)."""
        roster = self.roster()
        out = []
        look_ahead = self.workforce.gaps.look_ahead_ms
        for queue in self.workforce.queues:
            plan = self.plans.plan(queue, now_ms, look_ahead)
            if plan is None:
                continue
            one = outlook(plan, roster.floor(queue.where), now_ms, look_ahead)
            out.append(one)
            QUEUE_AGENTS_STAFFED.labels(queue=queue.id).set(one.floor.staffed)
            current = one.intervals[0] if one.intervals else None
            if current is not None:
                QUEUE_AGENTS_REQUIRED.labels(queue=queue.id).set(current.required)
            if (worst := one.worst) is not None:
                QUEUE_SERVICE_LEVEL.labels(queue=queue.id).set(worst.service_level)
        return out

    def evaluate(self, now_ms: int) -> list[Breach]:
        """Judge every queue's gap; the breach records to publish (the states are saved)."""
        if not self.active:
            return []
        spec = self.workforce.gaps
        published = []
        for one in self.outlooks(now_ms):
            key = one.queue.id
            state = self.gaps.get(key) or GapState()
            new, breach = judge(one, state, spec, now_ms)
            if new != state:
                self.gaps[key] = new
            if breach is not None:
                published.append(breach)
        return published
