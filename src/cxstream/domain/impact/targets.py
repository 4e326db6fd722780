"""Targets that move with capabilities: a target per metric and scope is a versioned record with a rationale and an
effective date (``cx.targets``), not a number typed into YAML. When a capability change is recorded for a scope
(an automation, a system upgrade), cxstream proposes a revised target from what comparable scopes reach now:
their pooled share over the last days with its Wilson interval, for a person to accept or reject. Every record
is kept: a target's history says who set which value, why and from when.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from cxstream.domain.base import Record, as_float, as_int, as_str, as_time, digest, obj, opt_str, to_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient, wilson
from cxstream.domain.remediation.verdict import measured


class State(StrEnum):
    PROPOSED = "PROPOSED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


def scope_text(scope: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(scope.items())) or "everywhere"


def target_id(metric: str, scope: Mapping[str, str]) -> str:
    return f"tgt-{digest(f'{metric}|{scope_text(scope)}', 16)}"


@dataclass(frozen=True)
class Target:
    target_id: str
    version: int
    metric: str
    scope: Mapping[str, str]
    value: float  # a share (0-1) or an NPS fraction
    rationale: str
    effective_ms: int
    actor: str
    at_ms: int
    state: State
    capability: str | None = None  # the capability change a proposal follows
    evidence: str | None = None  # what comparable scopes reach, with n and interval
    low: float | None = None
    high: float | None = None

    def record(self) -> Record:
        def dt(ms: int) -> datetime:
            return datetime.fromtimestamp(ms / 1000, UTC)

        return {
            "target_id": self.target_id, "version": self.version, "metric": self.metric, "scope": dict(self.scope),
            "value": self.value, "rationale": self.rationale, "effective": dt(self.effective_ms),
            "actor": self.actor, "at": dt(self.at_ms), "state": self.state.value, "capability": self.capability,
            "evidence": self.evidence, "low": self.low, "high": self.high,
        }  # fmt: skip

    @classmethod
    def from_record(cls, r: Mapping[str, object]) -> Target:
        low, high = r.get("low"), r.get("high")
        return cls(
            as_str(r["target_id"], "target_id"), as_int(r["version"], "version"), as_str(r["metric"], "metric"),
            {str(k): str(v) for k, v in obj(r["scope"], "scope").items()}, as_float(r["value"], "value"),
            as_str(r["rationale"], "rationale"), to_ms(as_time(r["effective"], "effective")),
            as_str(r["actor"], "actor"), to_ms(as_time(r["at"], "at")), State(as_str(r["state"], "state")),
            opt_str(r.get("capability")), opt_str(r.get("evidence")),
            None if low is None else as_float(low, "low"), None if high is None else as_float(high, "high"),
        )  # fmt: skip


class Refused(ValueError):
    def __init__(self, rule_id: str, message: str) -> None:
        super().__init__(f"{rule_id}: {message}")
        self.rule_id = rule_id


@dataclass
class TargetBook:
    """Every target record folded from ``cx.targets``: (target, version) -> the latest record of it."""

    records: dict[tuple[str, int], Target] = field(default_factory=dict)

    def add(self, target: Target) -> None:
        self.records[(target.target_id, target.version)] = target

    def versions(self, tid: str) -> list[Target]:
        return sorted((t for (i, _), t in self.records.items() if i == tid), key=lambda t: t.version)

    def next_version(self, tid: str) -> int:
        return max((v for (i, v) in self.records if i == tid), default=0) + 1

    def current(self, tid: str, at_ms: int) -> Target | None:
        """The accepted version in force at ``at_ms`` (the latest effective one)."""
        accepted = [t for t in self.versions(tid) if t.state is State.ACCEPTED and t.effective_ms <= at_ms]
        return max(accepted, key=lambda t: (t.effective_ms, t.version), default=None)

    def ids(self) -> list[str]:
        return sorted({i for i, _ in self.records})


def decide(book: TargetBook, tid: str, version: int, accept: bool, actor: str, at_ms: int,
           effective_ms: int | None = None) -> Target:  # fmt: skip
    """The record that accepts or rejects a proposal (refused unless it is a proposal)."""
    found = book.records.get((tid, version))
    if found is None:
        raise Refused("target.unknown", f"no target {tid} version {version}")
    if found.state is not State.PROPOSED:
        raise Refused("target.decided", f"{tid} version {version} is {found.state.value}, not a proposal")
    effective = effective_ms if effective_ms is not None else max(found.effective_ms, at_ms)
    return replace(found, state=State.ACCEPTED if accept else State.REJECTED, actor=actor, at_ms=at_ms,
                   effective_ms=effective)  # fmt: skip


@dataclass(frozen=True)
class Reach:
    """What comparable scopes reach: the pooled value with its interval and n, and who they are."""

    value: float
    low: float
    high: float
    n: int
    peers: tuple[Mapping[str, str], ...]


def reach(index: HistoryIndex, metrics: MetricsSpec, metric: str, peers: Sequence[Mapping[str, str]], now_ms: int,
          days: int = 28, confidence: float = 0.95) -> Reach | None:  # fmt: skip
    """The peers' pooled share over the last ``days`` closed days (Wilson interval); None without answers."""
    definition = metrics.definition(metric)
    end = now_ms - now_ms % DAY_MS
    stats = Sufficient()
    for fact in index.facts(metric, DAY_MS, end - days * DAY_MS, end):
        if any(fact.within(p) for p in peers):
            stats.merge(fact.stats)
    m = measured(definition, stats)
    if m is None or m.value is None or not m.n:
        return None
    if m.kind == "nps":
        raise ValueError("targets from peers are proposed for shares; set an NPS target by hand")
    low, high = wilson(m.hits, m.n, confidence)
    return Reach(m.value, low, high, m.n, tuple(dict(p) for p in peers))


def propose(book: TargetBook, metric: str, scope: Mapping[str, str], capability: str, found: Reach, actor: str,
            at_ms: int) -> Target:  # fmt: skip
    """A proposal after a capability change: the peers' pooled value, its interval in the evidence."""
    if not capability.strip():
        raise Refused("target.capability", "name the capability change (e.g. automated rebooking)")
    tid = target_id(metric, scope)
    peers = ", ".join(scope_text(p) for p in found.peers)
    evidence = (f"comparable scopes ({peers}) reach {100 * found.value:.1f} % (n={found.n:,}; 95 % CI "
                f"{100 * found.low:.1f}-{100 * found.high:.1f}) over the last 28 days")  # fmt: skip
    return Target(tid, book.next_version(tid), metric, dict(scope), round(found.value, 4),
                  f"after {capability.strip()}: what comparable scopes reach now", at_ms, actor, at_ms, State.PROPOSED,
                  capability.strip(), evidence, found.low, found.high)  # fmt: skip


def declared(book: TargetBook, metric: str, scope: Mapping[str, str], value: float, rationale: str, effective_ms: int,
             actor: str, at_ms: int) -> Target:  # fmt: skip
    """A target set by a person (accepted from its effective date)."""
    if not 0 < value < 1:
        raise Refused("target.value", "a target is a share between 0 and 1 (0.85 for 85 %)")
    if not rationale.strip():
        raise Refused("target.rationale", "say why this target (a rationale is required)")
    tid = target_id(metric, scope)
    return Target(tid, book.next_version(tid), metric, dict(scope), value, rationale.strip(), effective_ms, actor,
                  at_ms, State.ACCEPTED)  # fmt: skip


def peers_of(
    index: HistoryIndex, metric: str, scope: Mapping[str, str], now_ms: int, days: int = 28
) -> list[dict[str, str]]:
    """The other values of the scope's dimension the history holds over the last days."""
    [(dimension, value)] = scope.items()
    end = now_ms - now_ms % DAY_MS
    seen = {f.value_of(dimension) for f in index.facts(metric, DAY_MS, end - days * DAY_MS, end)}
    return [{dimension: v} for v in sorted(seen) if v and v not in ("-", value)]


def all_targets(records: Iterable[Target]) -> TargetBook:
    book = TargetBook()
    for r in records:
        book.add(r)
    return book
