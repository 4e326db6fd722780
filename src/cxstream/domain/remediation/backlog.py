"""The remediation backlog: every action of ``cx.remediation`` folded in order into items, each with its audit
trail (an action the rules refuse stays in the trail, marked refused with the reason, and changes nothing), and
the procedure version each site or team runs (from the rollouts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cxstream.domain.remediation.items import BACKLOG, Action, Item, Refused, apply, item_priority
from cxstream.domain.remediation.spec import Remediation


@dataclass(frozen=True)
class TrailEntry:
    action: Action
    refused: str | None = None  # "rule: message" when the rules refused it


@dataclass(frozen=True)
class ProcedureAt:
    """The procedure version a scope runs, since when, and through which item."""

    procedure: str
    scope: Mapping[str, str]
    version: str
    since_ms: int
    item_id: str


@dataclass(frozen=True)
class ProcedureStatus:
    """Where each version of one procedure runs, and which of the given scopes are behind the newest."""

    procedure: str
    newest: str
    running: tuple[ProcedureAt, ...]
    behind: tuple[ProcedureAt, ...]  # on an older version
    not_rolled_out: tuple[str, ...]  # sites (of those asked about) with no version recorded


def version_key(version: str) -> tuple[tuple[int, str], ...]:
    """Versions compare part by part, numbers as numbers: 2 < 10, 1.9 < 1.10."""
    parts = version.replace("-", ".").split(".")
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in parts)


def scope_text(scope: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(scope.items()))


@dataclass
class Backlog:
    spec: Remediation
    items: dict[str, Item] = field(default_factory=dict)
    trails: dict[str, list[TrailEntry]] = field(default_factory=dict)

    def record(self, action: Action) -> TrailEntry:
        """Apply one action; it joins its item's trail either way."""
        before = self.items.get(action.item_id)
        if before is not None and action.action_id in before.applied:
            return TrailEntry(action)  # seen before (a replay): already in the trail
        try:
            self.items[action.item_id] = apply(before, action, self.spec)
            entry = TrailEntry(action)
        except Refused as refused:
            entry = TrailEntry(action, f"{refused.rule_id}: {refused.message}")
        self.trails.setdefault(action.item_id, []).append(entry)
        return entry

    def record_all(self, actions: Iterable[Action]) -> None:
        for action in actions:
            self.record(action)

    def ranked(self, *, open_only: bool = True) -> list[Item]:
        """Items by priority score, highest first (the backlog states only, unless ``open_only`` is off)."""
        chosen = [i for i in self.items.values() if not open_only or i.state in BACKLOG]
        return sorted(chosen, key=lambda i: (-item_priority(i, self.spec).score, i.created_ms, i.item_id))

    def procedures(self, sites: Iterable[str] = ()) -> list[ProcedureStatus]:
        """Per procedure: the latest version each scope runs (by rollout time), which scopes run an older one than
        the newest rolled out anywhere, and which of ``sites`` have none."""
        latest: dict[tuple[str, str], ProcedureAt] = {}
        for item in self.items.values():
            for rollout in item.rollouts:
                if rollout.procedure is None or rollout.procedure_version is None:
                    continue
                key = (rollout.procedure, scope_text(rollout.scope))
                found = ProcedureAt(rollout.procedure, dict(rollout.scope), rollout.procedure_version, rollout.at_ms,
                                    item.item_id)  # fmt: skip
                if key not in latest or found.since_ms >= latest[key].since_ms:
                    latest[key] = found
        wanted = list(sites)
        statuses = []
        for procedure in sorted({p for p, _ in latest}):
            running = sorted((a for (p, _), a in latest.items() if p == procedure), key=lambda a: scope_text(a.scope))
            newest = max((a.version for a in running), key=version_key)
            covered = {a.scope.get("site") for a in running}
            statuses.append(ProcedureStatus(
                procedure, newest, tuple(running), tuple(a for a in running if a.version != newest),
                tuple(s for s in wanted if s not in covered),
            ))  # fmt: skip
        return statuses
