"""The comparisons every rolled-out change is due, and how the workers put them together.

Each rolled-out item wants, per target metric the verdict can judge and per scope it was rolled out to, the
metric before the rollout and after it (:func:`wanted`). The live cells are spread over the workers by
``cx.events`` partition, so each worker sums the live part of each wanted period over the partitions it holds,
one :class:`Partial` per partition, on a shared topic; the closed days before the live cells' reach come from
the metric history every worker has. A comparison is complete when every partition reported the same period
end (ends are cut to the finest bucket, so workers agree); :class:`EvidenceBook` keeps the newest complete one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cxstream.domain.base import JsonObject, as_int, as_str, obj
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient
from cxstream.domain.remediation.backlog import Backlog, scope_text
from cxstream.domain.remediation.items import ItemState
from cxstream.domain.remediation.spec import VerdictSpec
from cxstream.domain.remediation.verdict import Comparison, ComparisonMethod, measured, overall

SIDES = ("before", "after")


@dataclass(frozen=True)
class Wanted:
    """One side of one comparison: an item's metric in a rolled-out scope, before or after the rollout."""

    item_id: str
    metric: str
    where: Mapping[str, str]
    side: str
    start_ms: int
    end_ms: int
    rollout_ms: int

    @property
    def key(self) -> str:
        return f"{self.item_id}|{self.metric}|{scope_text(self.where)}|{self.side}"


def wanted(backlog: Backlog, metrics: MetricsSpec, now_ms: int) -> list[Wanted]:
    """What every rolled-out item needs compared now: ends are cut to the finest bucket."""
    spec = backlog.spec.verdict
    before_ms, after_ms, settle_ms = (parse_duration_ms(d) for d in (spec.before, spec.after, spec.settle))
    cut = now_ms - now_ms % metrics.finest_ms
    out = []
    for item in backlog.items.values():
        if item.state is not ItemState.ROLLED_OUT or item.change is None:
            continue
        for metric in item.change.target_metrics:
            try:
                definition = metrics.definition(metric)
            except KeyError:
                continue
            if measured(definition, Sufficient()) is None:
                continue
            for rollout in item.rollouts:
                where = {k: v for k, v in rollout.scope.items() if k in definition.dimensions}
                at = rollout.at_ms
                start_after = at + settle_ms
                end_after = min(cut, start_after + after_ms)
                out.append(Wanted(item.item_id, metric, where, "before", at - before_ms, at, at))
                if end_after > start_after:
                    out.append(Wanted(item.item_id, metric, where, "after", start_after, end_after, at))
    return out


@dataclass(frozen=True)
class Partial:
    """One partition's live part of a wanted period: the statistics of [from, end) where from is the later of the
    period's start and ``split_ms`` (before it, the history answers)."""

    key: str
    partition: int
    partitions: int
    split_ms: int
    end_ms: int
    stats: Sufficient

    def to_json(self) -> JsonObject:
        return {"key": self.key, "partition": self.partition, "partitions": self.partitions,
                "split_ms": self.split_ms, "end_ms": self.end_ms, "stats": self.stats.to_json()}  # fmt: skip

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> Partial:
        value = obj(json.loads(data), "evidence partial")
        return cls(as_str(value["key"]), as_int(value["partition"]), as_int(value["partitions"]),
                   as_int(value["split_ms"]), as_int(value["end_ms"]),
                   Sufficient.from_json(obj(value["stats"], "stats")))  # fmt: skip


@dataclass
class EvidenceBook:
    """The partials heard, by key and (split, end); :meth:`complete` gives the newest sum every partition is in."""

    partials: dict[str, dict[tuple[int, int], dict[int, Partial]]] = field(default_factory=dict)

    def add(self, partial: Partial) -> None:
        rounds = self.partials.setdefault(partial.key, {})
        rounds.setdefault((partial.split_ms, partial.end_ms), {})[partial.partition] = partial
        done = [r for r, parts in rounds.items() if len(parts) >= partial.partitions]
        if done:  # forget rounds older than the newest complete one
            newest = max(done, key=lambda r: r[1])
            for old in [r for r in rounds if r[1] < newest[1]]:
                del rounds[old]

    def complete(self, key: str) -> tuple[int, int, Sufficient] | None:
        """(split, end, the live part summed over every partition) of the newest complete round, if any."""
        rounds = self.partials.get(key, {})
        done = [
            (r, parts) for r, parts in rounds.items() if parts and len(parts) >= next(iter(parts.values())).partitions
        ]
        if not done:
            return None
        (split, end), parts = max(done, key=lambda d: d[0][1])
        return split, end, Sufficient.merged(p.stats for p in parts.values())

    def forget(self, keys_kept: Iterable[str]) -> None:
        kept = set(keys_kept)
        for key in [k for k in self.partials if k not in kept]:
            del self.partials[key]


@dataclass(frozen=True)
class SideStats:
    """One side of a comparison put together: the closed days from the history plus the live part."""

    stats: Sufficient
    start_ms: int
    end_ms: int


def assemble(want: Wanted, index: HistoryIndex | None, book: EvidenceBook) -> SideStats | None:
    """The side's statistics, or None while not every partition has reported it."""
    found = book.complete(want.key)
    if found is None:
        return None
    split, end, live = found
    stats = Sufficient().merge(live)
    if index is not None and want.start_ms < split:
        for fact in index.facts(want.metric, DAY_MS, want.start_ms, split):
            if fact.end_ms <= split and fact.within(want.where):
                stats.merge(fact.stats)
    return SideStats(stats, want.start_ms, end)


@dataclass(frozen=True)
class ItemCheck:
    """An item's comparisons now, and the verdict they add up to."""

    item_id: str
    comparisons: tuple[tuple[Mapping[str, str], Comparison], ...]
    waiting: int  # sides not yet reported by every partition
    decision: str


def check_item(
    item_id: str, wants: list[Wanted], metrics: MetricsSpec, index: HistoryIndex | None, book: EvidenceBook,
    spec: VerdictSpec, method: ComparisonMethod,
) -> ItemCheck:  # fmt: skip
    pairs: dict[tuple[str, str], dict[str, Wanted]] = {}
    for want in wants:
        if want.item_id == item_id:
            pairs.setdefault((want.metric, scope_text(want.where)), {})[want.side] = want
    comparisons, waiting = [], 0
    for sides in pairs.values():
        before, after = sides.get("before"), sides.get("after")
        if before is None:
            continue
        old = assemble(before, index, book)
        # no after period yet (the rollout is less than a bucket old): nothing after it, which is a value
        new = assemble(after, index, book) if after is not None else SideStats(Sufficient(), before.end_ms,
                                                                                 before.end_ms)  # fmt: skip
        if old is None or new is None:
            waiting += 1
            continue
        definition = metrics.definition(before.metric)
        comparisons.append((dict(before.where), method.compare(definition, old.stats, new.stats, spec)))
    decisions = [c.decision for _, c in comparisons]
    decision = "not yet" if waiting or not pairs else overall(decisions)
    return ItemCheck(item_id, tuple(comparisons), waiting, decision)
