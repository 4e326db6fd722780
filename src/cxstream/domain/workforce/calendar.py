"""The training and change calendar: planned events that take agents off queues, checked against the forecast.

An entry (a training rollout, a system change...) takes ``agents`` agents off each of its queues from its start
to its end. Assuming each queue is staffed to plan (the agents its forecast needs for the target in every
interval), the entry leaves ``needed - agents`` on the floor: the service level that gives, in the worst
interval it overlaps, against the planned one, says what it costs; when that falls under the target, the first
start in the following days (``calendar.search_days``) that keeps every overlapped interval at the target is
offered. Declared peak seasons and change freezes that the entry overlaps warn or refuse it.

Pure: the plans come in from the forecast; the entries from the calendar topic.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from cxstream.domain.base import Record, as_int, as_str, from_ms, to_ms
from cxstream.domain.workforce.gaps import projected_service_level
from cxstream.domain.workforce.queues import QueuePlan
from cxstream.domain.workforce.spec import ENTRY_KINDS, CalendarRule, CalendarSpec


@dataclass(frozen=True)
class CalendarEntry:
    entry_id: str
    kind: str
    title: str
    queues: tuple[str, ...]
    agents: int
    starts_ms: int
    ends_ms: int
    created_by: str
    updated_ms: int
    comment: str | None = None
    cancelled: bool = False

    def to_record(self) -> Record:
        return {"entry_id": self.entry_id, "kind": self.kind, "title": self.title, "queues": list(self.queues),
                "agents": self.agents, "starts_at": from_ms(self.starts_ms), "ends_at": from_ms(self.ends_ms),
                "created_by": self.created_by, "comment": self.comment, "updated_at": from_ms(self.updated_ms),
                "cancelled": self.cancelled}  # fmt: skip

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> CalendarEntry:
        def ms(name: str) -> int:
            value = record[name]
            return to_ms(value) if isinstance(value, datetime) else as_int(value, name)

        queues = record.get("queues")
        return cls(as_str(record["entry_id"], "entry_id"), as_str(record["kind"], "kind"),
                   as_str(record["title"], "title"), tuple(str(q) for q in queues) if isinstance(queues, list) else (),
                   as_int(record["agents"], "agents"), ms("starts_at"), ms("ends_at"),
                   as_str(record["created_by"], "created_by"), ms("updated_at"),
                   str(record["comment"]) if record.get("comment") is not None else None,
                   bool(record.get("cancelled", False)))  # fmt: skip

    def cancel(self, at_ms: int) -> CalendarEntry:
        return replace(self, cancelled=True, updated_ms=at_ms)


def new_entry(kind: str, title: str, queues: Sequence[str], agents: int, starts: datetime, ends: datetime,
              created_by: str, known_queues: Sequence[str], comment: str | None = None) -> CalendarEntry:  # fmt: skip
    """A new entry; ValueError names what is wrong with it."""
    if kind not in ENTRY_KINDS:
        raise ValueError(f"kind is one of {', '.join(ENTRY_KINDS)}, not {kind!r}")
    if not title.strip():
        raise ValueError("a title is required")
    if not queues:
        raise ValueError("name at least one queue")
    unknown = [q for q in queues if q not in known_queues]
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a queue (declared: {', '.join(known_queues)})")
    if agents < 1:
        raise ValueError("agents is at least 1")
    if ends <= starts:
        raise ValueError("it must end after it starts")
    if ends - starts > timedelta(days=14):
        raise ValueError("an entry lasts at most 14 days (split a longer rollout into waves)")
    now = to_ms(datetime.now(UTC))
    return CalendarEntry(f"cal-{secrets.token_hex(4)}", kind, title.strip(), tuple(dict.fromkeys(queues)), agents,
                         to_ms(starts), to_ms(ends), created_by, now, comment)  # fmt: skip


def latest(entries: Sequence[CalendarEntry]) -> dict[str, CalendarEntry]:
    """The latest record of each entry id (by update time, then offset order)."""
    out: dict[str, CalendarEntry] = {}
    for entry in entries:
        kept = out.get(entry.entry_id)
        if kept is None or entry.updated_ms >= kept.updated_ms:
            out[entry.entry_id] = entry
    return out


@dataclass(frozen=True)
class QueueImpact:
    """What an entry does to one queue in the worst interval it overlaps."""

    queue_id: str
    start: datetime | None  # the worst interval (None: no forecast over the entry)
    needed: int | None  # agents the plan needs there
    left: int | None  # after the entry takes its agents
    planned_level: float | None  # service level at the planned staffing
    level: float | None  # with the entry's agents away
    arrivals: float | None
    weeks: int = 0  # the forecast's n


@dataclass(frozen=True)
class RuleHit:
    rule: str
    kind: str  # peak or freeze
    action: str  # warn or refuse


@dataclass(frozen=True)
class Assessment:
    entry: CalendarEntry
    impacts: tuple[QueueImpact, ...]
    target: float  # the lowest target of its queues
    below_target: bool
    better_start: datetime | None  # the first start that keeps every queue at its target
    hits: tuple[RuleHit, ...]
    unknown: str | None = None  # why the forecast cannot judge it (too far ahead, too little history)

    @property
    def refused(self) -> bool:
        return any(h.action == "refuse" for h in self.hits)

    def summary(self) -> str:
        e = self.entry
        when = from_ms(e.starts_ms).strftime("%d %b %H:%M UTC")
        agents = f"{e.agents} agent{'s' if e.agents != 1 else ''}"
        head = f"{e.kind.replace('_', ' ')} '{e.title}' on {when} takes {agents} from {', '.join(e.queues)}"
        parts = [head]
        worst = min((i for i in self.impacts if i.level is not None), key=lambda i: i.level or 0.0, default=None)
        if self.unknown:
            parts.append(self.unknown)
        elif worst is not None and worst.start is not None:
            parts.append(f"in {worst.queue_id} at {worst.start:%H:%M} ({worst.arrivals:.1f} contacts forecast, "
                         f"n={worst.weeks} weeks) service level {worst.level:.2f} instead of {worst.planned_level:.2f}"
                         f" with {worst.left} of {worst.needed} agents")  # fmt: skip
            if self.below_target and self.better_start:
                parts.append(
                    f"the first window that keeps >= {self.target:.2f} starts {self.better_start:%d %b %H:%M} UTC"
                )
            elif self.below_target:
                parts.append(f"no window in the forecast's next days keeps >= {self.target:.2f}")
        for hit in self.hits:
            parts.append(f"{'refused' if hit.action == 'refuse' else 'warning'}: overlaps the {hit.kind} {hit.rule}")
        return "; ".join(parts)


def _overlaps(rule: CalendarRule, entry: CalendarEntry) -> bool:
    first = datetime.combine(rule.start, datetime.min.time(), UTC)
    last = datetime.combine(rule.end + timedelta(days=1), datetime.min.time(), UTC)
    if not (to_ms(first) < entry.ends_ms and entry.starts_ms < to_ms(last)):
        return False
    if rule.kinds and entry.kind not in rule.kinds:
        return False
    return not rule.queues or bool(set(rule.queues) & set(entry.queues))


def rule_hits(entry: CalendarEntry, spec: CalendarSpec) -> tuple[RuleHit, ...]:
    hits = [RuleHit(r.name, "peak season", r.action) for r in spec.peaks if _overlaps(r, entry)]
    hits += [RuleHit(r.name, "change freeze", r.action) for r in spec.freezes if _overlaps(r, entry)]
    return tuple(hits)


def _impact(plan: QueuePlan, agents: int, starts_ms: int, ends_ms: int) -> QueueImpact | None:
    """The worst overlapped interval of one queue, or None when an overlapped interval has no forecast."""
    interval_s = plan.forecast.step_ms / 1000
    worst: QueueImpact | None = None
    covered = False
    for one in plan.staffing:
        f = one.forecast
        if to_ms(f.end) <= starts_ms or to_ms(f.start) >= ends_ms:
            continue
        if one.staffing is None or f.arrivals is None or f.handle_s is None:
            return None
        covered = True
        needed = one.staffing.agents
        left = max(0, needed - agents)
        level = projected_service_level(f.arrivals, interval_s, f.handle_s, plan.patience_s, left,
                                        plan.target.answer_within_s)  # fmt: skip
        if worst is None or (worst.level is not None and level < worst.level):
            worst = QueueImpact(plan.queue.id, f.start, needed, left, one.staffing.figures.service_level, level,
                                f.arrivals, f.weeks)  # fmt: skip
    return worst if covered else None


def assess(entry: CalendarEntry, plans: Mapping[str, QueuePlan], spec: CalendarSpec) -> Assessment:
    """The entry against its queues' plans (each covering the entry's days and ``search_days`` after)."""
    hits = rule_hits(entry, spec)
    targets = [plans[q].target.service_level for q in entry.queues if q in plans]
    target = min(targets, default=0.8)
    impacts = []
    for queue in entry.queues:
        plan = plans.get(queue)
        impact = _impact(plan, entry.agents, entry.starts_ms, entry.ends_ms) if plan else None
        if impact is None:
            return Assessment(entry, (), target, False, None, hits,
                              f"no forecast for {queue} over it (too far ahead or too little history)")  # fmt: skip
        impacts.append(impact)
    below = any(i.level is not None and i.level < plans[i.queue_id].target.service_level for i in impacts)
    better = _better_start(entry, plans, spec) if below else None
    return Assessment(entry, tuple(impacts), target, below, better, hits)


def _better_start(entry: CalendarEntry, plans: Mapping[str, QueuePlan], spec: CalendarSpec) -> datetime | None:
    """The first start after the entry's, on an interval boundary within ``search_days``, where every queue keeps
    its target in every overlapped interval (and no refusing rule is hit)."""
    step = min(p.forecast.step_ms for p in plans.values())
    length = entry.ends_ms - entry.starts_ms
    first = entry.starts_ms - entry.starts_ms % step + step
    for start in range(first, entry.starts_ms + spec.search_days * 86_400_000, step):
        moved = replace(entry, starts_ms=start, ends_ms=start + length)
        if any(h.action == "refuse" for h in rule_hits(moved, spec)):
            continue
        fits = True
        for queue in entry.queues:
            impact = _impact(plans[queue], entry.agents, start, start + length)
            if impact is None:
                return None  # past the forecast's horizon
            if impact.level is None or impact.level < plans[queue].target.service_level:
                fits = False
                break
        if fits:
            return from_ms(start)
    return None


def days_of(entry: CalendarEntry, search_days: int) -> tuple[date, int]:
    """The first day and the number of days a plan must cover to assess the entry and search after it."""
    first = from_ms(entry.starts_ms).date()
    last = from_ms(entry.ends_ms - 1).date() + timedelta(days=search_days)
    return first, (last - first).days + 1
