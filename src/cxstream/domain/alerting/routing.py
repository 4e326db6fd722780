"""Escalation routing with the semantics of Prometheus Alertmanager, which ops teams already know: a tree
of routes with label matchers, ``continue``, inherited settings, grouping with the three timers
(``group_wait``, ``group_interval``, ``repeat_interval``), inhibition rules and silences.

Pure and clock-free: every function takes the time it should consider as ``now`` (epoch milliseconds).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import ConfigDict, Field, field_validator, model_validator

from cxstream.domain.alerting.matchers import LABEL_NAME, Labels, Matcher, MatchOp, legacy, matches_all, parse_all
from cxstream.domain.alerting.records import BreachKind
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.alerting.time_intervals import NamedInterval
from cxstream.domain.base import Json, Strict, as_int, as_str, digest, obj, opt_int, str_list, text_map
from cxstream.domain.durations import parse_duration_ms

__all__ = ["Labels", "MatchOp", "Matcher", "matches_all"]  # the matcher types, re-exported for the rules
GROUP_BY_ALL = "..."


#: Labels whose values form a closed set with one spelling: a matcher that no value of the set can satisfy
#: (``severity=critical`` where severities are written ``CRITICAL``) is a mistake, refused at load.
KNOWN_VALUES: dict[str, tuple[str, ...]] = {
    "severity": tuple(s.value for s in Severity),
    "kind": tuple(k.value for k in BreachKind),
}


def check_known_values(matchers: Iterable[Matcher]) -> None:
    """Refuse a matcher on a closed-set label (:data:`KNOWN_VALUES`) that can never match: an equality or a
    regex no member satisfies (a negation that excludes nothing is harmless and allowed)."""
    for m in matchers:
        values = KNOWN_VALUES.get(m.label)
        if values is None or m.op not in (MatchOp.EQUAL, MatchOp.REGEX):
            continue
        if not any(m.matches({m.label: v}) for v in values):
            close = [v for v in values if v.lower() == m.value.lower()]
            hint = f"; did you mean {m.label}{m.op.value}{close[0]}?" if close else ""
            raise ValueError(f"{m} can never match: {m.label} is one of {', '.join(values)}{hint}")


def untested_values(root: Route, labels: Labels) -> dict[str, list[Matcher]]:
    """Labels (other than the closed sets) whose value no route tests for although the tree tests that label,
    with the matchers that do test it: such an alert falls past every route that looks at it (a typo, a value
    of another spelling) to the default route."""
    positive: dict[str, list[Matcher]] = {}

    def walk(route: Route) -> None:
        for m in route.matchers:
            if m.op in (MatchOp.EQUAL, MatchOp.REGEX):
                positive.setdefault(m.label, []).append(m)
        for child in route.routes:
            walk(child)

    walk(root)
    return {
        name: tests
        for name, value in sorted(labels.items())
        if name not in KNOWN_VALUES
        and (tests := positive.get(name))
        and not any(m.matches({name: value}) for m in tests)
    }


def _parse_matchers(value: Iterable[str]) -> tuple[str, ...]:
    items = tuple(value)
    check_known_values(parse_all(items))
    return items


def _legacy_map(value: dict[str, str], regex: bool) -> dict[str, str]:
    """A ``match`` / ``match_re`` map: valid label names, and regexes RE2 accepts."""
    check_known_values([Matcher(name, MatchOp.REGEX if regex else MatchOp.EQUAL, str(t)) for name, t in value.items()])
    return value


def _duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration_ms(value)
    return value


def _group_by(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """Alertmanager's rules: valid label names, none twice, and ``...`` alone."""
    if value is None:
        return None
    for name in value:
        if name != GROUP_BY_ALL and not LABEL_NAME.match(name):
            raise ValueError(f"invalid label name {name!r} in group_by list")
        if value.count(name) > 1:
            raise ValueError(f"duplicated label {name!r} in group_by")
    if GROUP_BY_ALL in value and len(value) > 1:
        raise ValueError("cannot have wildcard group_by (`...`) and other labels at the same time")
    return value


class RouteSpec(Strict):
    """One node of the routing tree, as written in YAML. Unset settings are inherited from the parent.
    ``match`` / ``match_re`` are Alertmanager's deprecated forms, accepted and converted to matchers."""

    receiver: str | None = None
    matchers: tuple[str, ...] = ()
    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)
    continue_: bool = Field(False, alias="continue")
    group_by: tuple[str, ...] | None = None
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    labels: dict[str, str] = Field(default_factory=dict, description="added to the alerts it notifies; inherited")
    mute_time_intervals: tuple[str, ...] = Field((), description="named time_intervals when it notifies nobody")
    active_time_intervals: tuple[str, ...] = Field((), description="named time_intervals outside which it is muted")
    routes: tuple[RouteSpec, ...] = ()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _parse_matchers(value)

    @field_validator("match")
    @classmethod
    def _match(cls, value: dict[str, str]) -> dict[str, str]:
        return _legacy_map(value, regex=False)

    @field_validator("match_re")
    @classmethod
    def _match_re(cls, value: dict[str, str]) -> dict[str, str]:
        return _legacy_map(value, regex=True)

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return _group_by(value)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not LABEL_NAME.match(name):
                raise ValueError(f"invalid label name {name!r} in labels")
        return value

    @field_validator("group_wait")
    @classmethod
    def _wait(cls, value: str | None) -> str | None:
        return _duration(value)

    @field_validator("group_interval", "repeat_interval")
    @classmethod
    def _intervals(cls, value: str | None) -> str | None:
        if value is not None and parse_duration_ms(value) == 0:
            raise ValueError("cannot be zero")
        return value

    @property
    def all_matchers(self) -> tuple[Matcher, ...]:
        """``matchers`` and the converted ``match`` / ``match_re``: an alert must satisfy every one."""
        return parse_all((*self.matchers, *legacy(self.match, self.match_re)))


class RootRouteSpec(RouteSpec):
    """The root matches everything and must set every setting its children may inherit."""

    receiver: str
    group_by: tuple[str, ...] = ()
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"

    @model_validator(mode="after")
    def _root_matches_all(self) -> RootRouteSpec:
        if self.all_matchers:
            raise ValueError("the root route matches every alert: it takes no matchers")
        if self.continue_:
            raise ValueError("the root route cannot continue")
        if self.mute_time_intervals or self.active_time_intervals:
            raise ValueError("the root route cannot have mute or active time intervals")
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
    mute_intervals: tuple[str, ...] = ()  # not inherited, as in Alertmanager
    active_intervals: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)  # the parent's, overridden by the route's own

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
            matchers=spec.all_matchers,
            continue_=spec.continue_,
            group_by=tuple(group_by),
            group_wait_ms=inherit(spec.group_wait, parent.group_wait_ms if parent else None),
            group_interval_ms=inherit(spec.group_interval, parent.group_interval_ms if parent else None),
            repeat_interval_ms=inherit(spec.repeat_interval, parent.repeat_interval_ms if parent else None),
            mute_intervals=spec.mute_time_intervals,
            active_intervals=spec.active_time_intervals,
            labels={**(parent.labels if parent else {}), **spec.labels},
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

    def time_muted(self, intervals: Mapping[str, NamedInterval], now_ms: int) -> str | None:
        """Why the route notifies nobody at ``now_ms``: within one of its mute intervals, or outside all of its
        active intervals (Alertmanager's ``TimeMuteStage`` and ``TimeActiveStage``); None when it may."""
        for name in self.mute_intervals:
            if intervals[name].holds(now_ms):
                return f"time_muted:{name}"
        if self.active_intervals and not any(intervals[name].holds(now_ms) for name in self.active_intervals):
            return "time_inactive"
        return None

    def group_key(self, labels: Labels) -> str:
        """Alerts with the same route and the same values of ``group_by`` are notified together."""
        if GROUP_BY_ALL in self.group_by:
            values = sorted(labels.items())
        else:
            values = [(name, labels.get(name, "")) for name in self.group_by]
        return f"{self.path}:" + ",".join(f"{k}={v}" for k, v in values)


# --- inhibition and silences --------------------------------------------------------------------------------


class InhibitRuleSpec(Strict):
    """A rule that mutes alerts matching the target while an alert matching the source fires with the same
    values of ``equal``. The deprecated ``source_match(_re)`` / ``target_match(_re)`` maps are converted."""

    name: str | None = Field(None, description="a name to show in mute reasons and logs")
    source_matchers: tuple[str, ...] = ()
    target_matchers: tuple[str, ...] = ()
    source_match: dict[str, str] = Field(default_factory=dict)
    source_match_re: dict[str, str] = Field(default_factory=dict)
    target_match: dict[str, str] = Field(default_factory=dict)
    target_match_re: dict[str, str] = Field(default_factory=dict)
    equal: tuple[str, ...] = ()

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _matchers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _parse_matchers(value)

    @field_validator("source_match", "target_match")
    @classmethod
    def _match(cls, value: dict[str, str]) -> dict[str, str]:
        return _legacy_map(value, regex=False)

    @field_validator("source_match_re", "target_match_re")
    @classmethod
    def _match_re(cls, value: dict[str, str]) -> dict[str, str]:
        return _legacy_map(value, regex=True)

    @field_validator("equal")
    @classmethod
    def _equal(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for label in value:
            if not LABEL_NAME.match(label):
                raise ValueError(f"invalid label name {label!r} in equal")
        return value


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]
    name: str | None = None

    @classmethod
    def build(cls, spec: InhibitRuleSpec) -> InhibitRule:
        return cls(
            parse_all((*spec.source_matchers, *legacy(spec.source_match, spec.source_match_re))),
            parse_all((*spec.target_matchers, *legacy(spec.target_match, spec.target_match_re))),
            spec.equal,
            spec.name,
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


class NotifyReason(StrEnum):
    """Why a group is notified at a flush (Alertmanager's ``DedupStage`` reasons)."""

    FIRST = "first"
    NEW_ALERTS = "new alerts"
    ALL_RESOLVED = "all resolved"
    RESOLVED = "resolved"
    REPEAT = "repeat"


@dataclass
class AggregationGroup:
    """One group of one route, notified as Alertmanager's dispatcher and notification log do it.

    The first flush comes ``group_wait`` after the first alert (to gather its companions), then one every
    ``group_interval``. At a flush, muted alerts (inhibited or silenced) are left out first; what remains is
    notified when (Alertmanager's ``DedupStage``): the group was never notified and something fires; an alert
    fires that the last notification did not carry; nothing fires any more but the last notification carried
    firing alerts; an alert resolved that the last notification did not report resolved (receivers here
    always get resolutions: ``send_resolved``); or else when more than ``repeat_interval`` passed since the
    last notification (strictly more: a 1 h repeat on 5 min ticks reminds at 65 min, not 60). A firing set
    that only shrank (an alert muted) notifies nobody. A resolved alert takes part in one flush, then leaves."""

    route: Route
    key: str
    firing: dict[str, Labels] = field(default_factory=dict)
    resolved: dict[str, Labels] = field(default_factory=dict)
    next_flush_ms: int | None = None
    last_sent_ms: int | None = None
    sent_state: frozenset[str] = frozenset()  # fingerprints of the firing alerts last notified
    sent_resolved: frozenset[str] = frozenset()  # fingerprints of the resolved alerts last notified

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

    def needs_update(self, firing: frozenset[str], resolved: frozenset[str], now_ms: int) -> NotifyReason | None:
        """Why the group is notified now, or None (the rules of the class text)."""
        if self.last_sent_ms is None:
            return NotifyReason.FIRST if firing else None
        if not firing <= self.sent_state:
            return NotifyReason.NEW_ALERTS
        if not firing:
            return NotifyReason.ALL_RESOLVED if self.sent_state else None
        if not resolved <= self.sent_resolved:
            return NotifyReason.RESOLVED
        return NotifyReason.REPEAT if now_ms - self.last_sent_ms > self.route.repeat_interval_ms else None

    def flush(self, now_ms: int, muted: Mapping[str, str | None] | None = None) -> Notification | None:
        """The notification due at ``now_ms``, if any. ``muted`` maps fingerprints (firing or resolved) to a
        mute reason; muted alerts are left out before anything is compared."""
        if self.next_flush_ms is None or now_ms < self.next_flush_ms:
            return None
        while self.next_flush_ms <= now_ms:  # the ticks that passed: one flush for all of them
            self.next_flush_ms += self.route.group_interval_ms
        mute = muted or {}
        firing = {fp: labels for fp, labels in self.firing.items() if not mute.get(fp)}
        resolved = {fp: labels for fp, labels in self.resolved.items() if not mute.get(fp)}
        self.resolved.clear()
        if not firing and not resolved:
            return None  # everything muted: nothing is compared or remembered
        reason = self.needs_update(frozenset(firing), frozenset(resolved), now_ms)
        if reason is None:
            return None
        self.sent_state, self.sent_resolved = frozenset(firing), frozenset(resolved)
        self.last_sent_ms = now_ms
        repeat = reason is NotifyReason.REPEAT
        extra = self.route.labels  # the route's labels: the alert's own win where both name a label
        return Notification(
            group_key=self.key,
            receiver=self.route.receiver,
            firing=tuple({**extra, **firing[fp]} for fp in sorted(firing)),
            resolved=tuple({**extra, **resolved[fp]} for fp in sorted(resolved)),
            at_ms=now_ms,
            repeat=repeat,
            slot=now_ms // max(1, self.route.repeat_interval_ms) if repeat else 0,
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
    sent_resolved: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Json]:
        return {
            "route": self.route,
            "firing": {fp: dict(labels) for fp, labels in self.firing.items()},
            "resolved": {fp: dict(labels) for fp, labels in self.resolved.items()},
            "next": self.next_ms,
            "last": self.last_ms,
            "sent": list(self.sent),
            "sent_resolved": list(self.sent_resolved),
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
            str_list(value.get("sent_resolved", [])),  # absent in groups saved before it was kept
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

    def __init__(
        self,
        root: Route,
        inhibit_rules: Iterable[InhibitRule] = (),
        silences: Iterable[Silence] = (),
        time_intervals: Mapping[str, NamedInterval] | None = None,
    ):
        self.root = root
        self.inhibit_rules = tuple(inhibit_rules)
        self.silences = list(silences)
        self.time_intervals = dict(time_intervals or {})
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
                tuple(sorted(g.sent_resolved)),
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
                sent_resolved=frozenset(g.sent_resolved),
            )

    def due(self, now_ms: int) -> list[Notification]:
        firing = [labels for group in self.groups.values() for labels in group.firing.values()]
        out = []
        for key in sorted(self.groups):
            group = self.groups[key]
            by_time = group.route.time_muted(self.time_intervals, now_ms)
            muted = {
                fp: by_time or muted_by(labels, firing, self.inhibit_rules, self.silences, now_ms)
                for fp, labels in [*group.firing.items(), *group.resolved.items()]
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
    time_intervals: tuple[NamedInterval, ...] = ()

    @model_validator(mode="after")
    def _intervals_exist(self) -> AlertingRoutes:
        names = [i.name for i in self.time_intervals]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"time interval {name!r} is defined twice")

        def walk(spec: RouteSpec, where: str) -> None:
            for name in (*spec.mute_time_intervals, *spec.active_time_intervals):
                if name not in names:
                    raise ValueError(f"undefined time interval {name!r} used in {where}")
            for i, child in enumerate(spec.routes):
                walk(child, f"{where}.routes[{i}]")

        walk(self.route, "route")
        return self

    def intervals(self) -> dict[str, NamedInterval]:
        return {i.name: i for i in self.time_intervals}

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
