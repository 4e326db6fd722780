"""Escalation routing with the semantics of Prometheus Alertmanager, which ops teams already know: a tree
of routes with label matchers, ``continue``, inherited settings, grouping with the three timers
(``group_wait``, ``group_interval``, ``repeat_interval``), inhibition rules and silences.

Pure and clock-free: every function takes the time it should consider as ``now`` (epoch milliseconds).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from pydantic import ConfigDict, Field, field_validator, model_validator

from cxstream.domain.base import Json, Strict, as_int, as_str, digest, obj, opt_int, str_list, text_map
from cxstream.domain.durations import parse_duration_ms

Labels = Mapping[str, str]
GROUP_BY_ALL = "..."
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')


class MatchOp(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True)
class Matcher:
    """``label op value``. A missing label has the value "" (as in Alertmanager); regexes are anchored."""

    label: str
    op: MatchOp
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        found = _MATCHER.match(text)
        if not found:
            raise ValueError(f"{text!r} is not a matcher such as severity=critical or region=~emea|apac")
        label, op, value = found.groups()
        matcher = cls(label, MatchOp(op), value)
        if matcher.op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{text!r}: bad regular expression: {exc}") from None
        return matcher

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(f"^(?:{self.value})$")

    def matches(self, labels: Labels) -> bool:
        actual = labels.get(self.label, "")
        if self.op is MatchOp.EQUAL:
            return actual == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return actual != self.value
        hit = self._pattern.match(actual) is not None
        return hit if self.op is MatchOp.REGEX else not hit

    def __str__(self) -> str:
        return f"{self.label}{self.op.value}{self.value}"


def matches_all(matchers: Iterable[Matcher], labels: Labels) -> bool:
    return all(m.matches(labels) for m in matchers)


def _parse_matchers(value: Iterable[str]) -> tuple[str, ...]:
    items = tuple(value)
    for item in items:
        Matcher.parse(item)
    return items


def _duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration_ms(value)
    return value


class RouteSpec(Strict):
    """One node of the routing tree, as written in YAML. Unset settings are inherited from the parent."""

    receiver: str | None = None
    matchers: tuple[str, ...] = ()
    continue_: bool = Field(False, alias="continue")
    group_by: tuple[str, ...] | None = None
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    routes: tuple[RouteSpec, ...] = ()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _parse_matchers(value)

    @field_validator("group_wait", "group_interval", "repeat_interval")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return _duration(value)


class RootRouteSpec(RouteSpec):
    """The root matches everything and must set every setting its children may inherit."""

    receiver: str
    group_by: tuple[str, ...] = ()
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"

    @model_validator(mode="after")
    def _root_matches_all(self) -> RootRouteSpec:
        if self.matchers:
            raise ValueError("the root route matches every alert: it takes no matchers")
        if self.continue_:
            raise ValueError("the root route cannot continue")
        return self


@dataclass(frozen=True)
class Route:
    """A route with its inherited settings resolved. ``path`` identifies it (e.g. "0.2.1") in group keys."""

    path: str
    receiver: str
    matchers: tuple[Matcher, ...]
    continue_: bool
    group_by: tuple[str, ...]
    group_wait_ms: int
    group_interval_ms: int
    repeat_interval_ms: int
    routes: tuple[Route, ...] = ()

    @classmethod
    def build(cls, spec: RouteSpec, parent: Route | None = None, path: str = "0") -> Route:
        def inherit(own: str | None, parents: int | None) -> int:
            if own is not None:
                return parse_duration_ms(own)
            assert parents is not None, "the root route sets every timer"
            return parents

        receiver = spec.receiver or (parent.receiver if parent else None)
        assert receiver is not None, "the root route names a receiver"
        group_by = spec.group_by if spec.group_by is not None else (parent.group_by if parent else ())
        node = cls(
            path=path,
            receiver=receiver,
            matchers=tuple(Matcher.parse(m) for m in spec.matchers),
            continue_=spec.continue_,
            group_by=tuple(group_by),
            group_wait_ms=inherit(spec.group_wait, parent.group_wait_ms if parent else None),
            group_interval_ms=inherit(spec.group_interval, parent.group_interval_ms if parent else None),
            repeat_interval_ms=inherit(spec.repeat_interval, parent.repeat_interval_ms if parent else None),
        )
        children = tuple(cls.build(child, node, f"{path}.{i}") for i, child in enumerate(spec.routes))
        return cls(**{**node.__dict__, "routes": children})

    def match(self, labels: Labels) -> list[Route]:
        """The routes an alert with these labels is sent through (Alertmanager's ``Route.Match``): the deepest
        matching routes, walking children in order and stopping at the first match unless it continues; the
        route itself when no child matches."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            matched = child.match(labels)
            found.extend(matched)
            if matched and not child.continue_:
                break
        return found or [self]

    def group_key(self, labels: Labels) -> str:
        """Alerts with the same route and the same values of ``group_by`` are notified together."""
        if GROUP_BY_ALL in self.group_by:
            values = sorted(labels.items())
        else:
            values = [(name, labels.get(name, "")) for name in self.group_by]
        return f"{self.path}:" + ",".join(f"{k}={v}" for k, v in values)


# --- inhibition and silences --------------------------------------------------------------------------------


class InhibitRuleSpec(Strict):
    source_matchers: tuple[str, ...]
    target_matchers: tuple[str, ...]
    equal: tuple[str, ...] = ()

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _matchers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _parse_matchers(value)


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    @classmethod
    def build(cls, spec: InhibitRuleSpec) -> InhibitRule:
        return cls(
            tuple(Matcher.parse(m) for m in spec.source_matchers),
            tuple(Matcher.parse(m) for m in spec.target_matchers),
            spec.equal,
        )

    def mutes(self, target: Labels, firing: Iterable[Labels]) -> bool:
        """Whether a firing alert matching ``source`` (equal on the ``equal`` labels) mutes ``target``. As in
        Alertmanager, when the target matches both sides, sources that also match both sides do not count:
        an alert never mutes itself or its peers."""
        if not matches_all(self.target, target):
            return False
        two_sided = matches_all(self.source, target)
        for source in firing:
            if dict(source) == dict(target):
                continue
            if two_sided and matches_all(self.target, source):
                continue
            if matches_all(self.source, source) and all(
                source.get(name, "") == target.get(name, "") for name in self.equal
            ):
                return True
        return False


@dataclass(frozen=True)
class Silence:
    """Mutes every alert its matchers match, from ``starts_ms`` until ``ends_ms``; who and why are kept."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_ms: int
    ends_ms: int
    created_by: str
    comment: str

    def __post_init__(self) -> None:
        if not self.matchers:
            raise ValueError("a silence needs at least one matcher")
        if self.ends_ms <= self.starts_ms:
            raise ValueError("a silence must end after it starts")
        if not self.created_by.strip() or not self.comment.strip():
            raise ValueError("a silence names its author and says why")

    def active(self, now_ms: int) -> bool:
        return self.starts_ms <= now_ms < self.ends_ms

    def mutes(self, labels: Labels, now_ms: int) -> bool:
        return self.active(now_ms) and matches_all(self.matchers, labels)

    def to_json(self) -> dict[str, Json]:
        return {
            "id": self.id,
            "matchers": [str(m) for m in self.matchers],
            "starts_ms": self.starts_ms,
            "ends_ms": self.ends_ms,
            "created_by": self.created_by,
            "comment": self.comment,
        }

    @classmethod
    def from_json(cls, data: object) -> Silence:
        value = obj(data, "silence")
        return cls(
            id=as_str(value["id"]),
            matchers=tuple(Matcher.parse(m) for m in str_list(value["matchers"])),
            starts_ms=as_int(value["starts_ms"]),
            ends_ms=as_int(value["ends_ms"]),
            created_by=as_str(value["created_by"]),
            comment=as_str(value["comment"]),
        )


def muted_by(
    labels: Labels, firing: Iterable[Labels], rules: Iterable[InhibitRule], silences: Iterable[Silence], now_ms: int
) -> str | None:
    """Why an alert is not notified ("inhibited" or "silenced:<id>"), or None."""
    pool = list(firing)
    if any(rule.mutes(labels, pool) for rule in rules):
        return "inhibited"
    for silence in silences:
        if silence.mutes(labels, now_ms):
            return f"silenced:{silence.id}"
    return None


# --- grouping and the three timers ----------------------------------------------------------------------------


def fingerprint(labels: Labels) -> str:
    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return digest(text, 16)


@dataclass(frozen=True)
class Notification:
    group_key: str
    receiver: str
    firing: tuple[Labels, ...]
    resolved: tuple[Labels, ...]
    at_ms: int
    repeat: bool  # nothing changed since the last notification: sent again because repeat_interval passed
    slot: int = 0  # a reminder's repeat_interval period since the epoch (0 for a change): part of its identity


@dataclass
class AggregationGroup:
    """One group of one route. The first notification waits ``group_wait`` after the first alert (to gather
    its companions); later changes go out at the next ``group_interval`` tick; an unchanged group is notified
    again after ``repeat_interval``. Resolved alerts are reported once, then forgotten."""

    route: Route
    key: str
    firing: dict[str, Labels] = field(default_factory=dict)
    resolved: dict[str, Labels] = field(default_factory=dict)
    next_flush_ms: int | None = None
    last_sent_ms: int | None = None
    sent_state: frozenset[str] = frozenset()  # fingerprints of the firing alerts last notified

    def add(self, labels: Labels, now_ms: int) -> None:
        fp = fingerprint(labels)
        self.resolved.pop(fp, None)
        self.firing[fp] = dict(labels)
        if self.next_flush_ms is None:
            self.next_flush_ms = now_ms + self.route.group_wait_ms

    def resolve(self, labels: Labels) -> None:
        fp = fingerprint(labels)
        if fp in self.firing:
            self.resolved[fp] = self.firing.pop(fp)

    @property
    def empty(self) -> bool:
        return not self.firing and not self.resolved

    def flush(self, now_ms: int, muted: Mapping[str, str | None] | None = None) -> Notification | None:
        """The notification due at ``now_ms``, if any. ``muted`` maps fingerprints to a mute reason; muted alerts
        are left out (and do not count as a change)."""
        if self.next_flush_ms is None or now_ms < self.next_flush_ms:
            return None
        while self.next_flush_ms <= now_ms:  # the ticks that passed: one flush for all of them
            self.next_flush_ms += self.route.group_interval_ms
        mute = muted or {}
        firing = {fp: labels for fp, labels in self.firing.items() if not mute.get(fp)}
        resolved = {fp: labels for fp, labels in self.resolved.items() if fp in self.sent_state}
        state = frozenset(firing)
        changed = state != self.sent_state or bool(resolved)
        due_repeat = self.last_sent_ms is not None and now_ms - self.last_sent_ms >= self.route.repeat_interval_ms
        self.resolved.clear()
        if not firing and not resolved:
            self.sent_state = frozenset()
            return None
        if not changed and not due_repeat:
            return None
        self.sent_state = state
        self.last_sent_ms = now_ms
        return Notification(
            group_key=self.key,
            receiver=self.route.receiver,
            firing=tuple(firing[fp] for fp in sorted(firing)),
            resolved=tuple(resolved[fp] for fp in sorted(resolved)),
            at_ms=now_ms,
            repeat=not changed,
            slot=0 if changed else now_ms // max(1, self.route.repeat_interval_ms),
        )


def _labels_by_fingerprint(value: object) -> dict[str, Labels]:
    return {str(fp): text_map(labels) for fp, labels in obj(value, "alerts").items()}


@dataclass(frozen=True)
class GroupState:
    """One aggregation group as saved: its route, alerts by fingerprint and timers."""

    route: str
    firing: Mapping[str, Labels]
    resolved: Mapping[str, Labels]
    next_ms: int | None
    last_ms: int | None
    sent: tuple[str, ...]

    def to_json(self) -> dict[str, Json]:
        return {
            "route": self.route,
            "firing": {fp: dict(labels) for fp, labels in self.firing.items()},
            "resolved": {fp: dict(labels) for fp, labels in self.resolved.items()},
            "next": self.next_ms,
            "last": self.last_ms,
            "sent": list(self.sent),
        }

    @classmethod
    def from_json(cls, data: object) -> GroupState:
        value = obj(data, "group")
        return cls(
            as_str(value["route"]),
            _labels_by_fingerprint(value["firing"]),
            _labels_by_fingerprint(value["resolved"]),
            opt_int(value["next"]),
            opt_int(value["last"]),
            str_list(value["sent"]),
        )


@dataclass(frozen=True)
class DispatcherState:
    unmatched: int = 0
    groups: Mapping[str, GroupState] = field(default_factory=dict)

    def to_json(self) -> dict[str, Json]:
        groups: dict[str, Json] = {key: g.to_json() for key, g in self.groups.items()}
        return {"unmatched": self.unmatched, "groups": groups}

    @classmethod
    def from_json(cls, data: object) -> DispatcherState:
        value = obj(data or {}, "dispatcher")
        groups = obj(value.get("groups") or {}, "groups")
        return cls(as_int(value.get("unmatched", 0)), {str(k): GroupState.from_json(g) for k, g in groups.items()})


class Dispatcher:
    """Routes alerts into aggregation groups and says which notifications are due."""

    def __init__(self, root: Route, inhibit_rules: Iterable[InhibitRule] = (), silences: Iterable[Silence] = ()):
        self.root = root
        self.inhibit_rules = tuple(inhibit_rules)
        self.silences = list(silences)
        self.groups: dict[str, AggregationGroup] = {}
        self.unmatched = 0  # alerts that only the root route took: counted, never lost

    def receive(self, labels: Labels, now_ms: int) -> list[str]:
        """Add a firing alert; returns the group keys it joined."""
        routes = self.root.match(labels)
        if routes == [self.root] and self.root.routes:
            self.unmatched += 1
        keys = []
        for route in routes:
            key = route.group_key(labels)
            group = self.groups.setdefault(key, AggregationGroup(route, key))
            group.add(labels, now_ms)
            keys.append(key)
        return keys

    def resolve(self, labels: Labels) -> None:
        for route in self.root.match(labels):
            group = self.groups.get(route.group_key(labels))
            if group is not None:
                group.resolve(labels)

    def withdraw(self, labels: Labels) -> None:
        """Take an alert out without reporting it resolved (it is being replaced, e.g. by a new severity)."""
        fp = fingerprint(labels)
        for route in self.root.match(labels):
            group = self.groups.get(route.group_key(labels))
            if group is not None:
                group.firing.pop(fp, None)

    def state(self) -> DispatcherState:
        """The groups and their timers, for a changelog-backed table: a restarted worker goes on where the
        dead one stopped."""
        groups = {
            key: GroupState(
                g.route.path,
                dict(g.firing),
                dict(g.resolved),
                g.next_flush_ms,
                g.last_sent_ms,
                tuple(sorted(g.sent_state)),
            )
            for key, g in self.groups.items()
        }
        return DispatcherState(self.unmatched, groups)

    def restore(self, state: DispatcherState) -> None:
        routes: dict[str, Route] = {}

        def index(route: Route) -> None:
            routes[route.path] = route
            for child in route.routes:
                index(child)

        index(self.root)
        self.unmatched = state.unmatched
        self.groups = {}
        for key, g in state.groups.items():
            route = routes.get(g.route)
            if route is None:  # the tree changed since: the group starts again from its alerts
                continue
            self.groups[key] = AggregationGroup(
                route=route,
                key=key,
                firing={fp: dict(labels) for fp, labels in g.firing.items()},
                resolved={fp: dict(labels) for fp, labels in g.resolved.items()},
                next_flush_ms=g.next_ms,
                last_sent_ms=g.last_ms,
                sent_state=frozenset(g.sent),
            )

    def due(self, now_ms: int) -> list[Notification]:
        firing = [labels for group in self.groups.values() for labels in group.firing.values()]
        out = []
        for key in sorted(self.groups):
            group = self.groups[key]
            muted = {
                fp: muted_by(labels, firing, self.inhibit_rules, self.silences, now_ms)
                for fp, labels in group.firing.items()
            }
            note = group.flush(now_ms, muted)
            if note is not None:
                out.append(note)
            if group.empty:
                del self.groups[key]
        return out


class AlertingRoutes(Strict):
    """The ``alerting`` routing part of the topology: the tree and the inhibition rules. Receivers are team
    ids; a team's receiver is its topic ``cx.escalations.<team>``."""

    route: RootRouteSpec
    inhibit_rules: tuple[InhibitRuleSpec, ...] = ()

    def receivers(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every receiver named in the tree, with where it is named."""
        found: list[tuple[tuple[str | int, ...], str]] = []

        def walk(spec: RouteSpec, loc: tuple[str | int, ...]) -> None:
            if spec.receiver is not None:
                found.append(((*loc, "receiver"), spec.receiver))
            for i, child in enumerate(spec.routes):
                walk(child, (*loc, "routes", i))

        walk(self.route, ("route",))
        return found

    def build(self) -> tuple[Route, tuple[InhibitRule, ...]]:
        return Route.build(self.route), tuple(InhibitRule.build(r) for r in self.inhibit_rules)
