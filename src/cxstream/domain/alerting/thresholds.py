"""Threshold rules and the breach lifecycle: when a metric's window crosses a warning or critical level in
some scope, a breach fires; it is updated when its severity changes and resolved once the value is back past
the clear level (hysteresis). Pure: the agent feeds it window estimates in time order.

Against noise: no decision below the minimum sample size, an optional statistical guard (the whole interval,
not just the point estimate, must lie beyond the level), and a required duration (the level must be crossed
in N consecutive windows before the breach fires).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from cxstream.domain.alerting.records import Direction, Status
from cxstream.domain.alerting.routing import Matcher, matches_all
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.base import Json, Strict, as_int, digest, obj, opt_int, opt_str
from cxstream.domain.metrics.stats import Estimate


class Guard(StrEnum):
    POINT = "point"  # the estimate beyond the level is enough
    INTERVAL = "interval"  # the whole interval must be beyond it: noise on small samples pages nobody


class Levels(Strict):
    warning: float | None = None
    critical: float | None = None
    clear: float | None = Field(None, description="back past this to resolve; default: the warning level")


class Override(Levels):
    """Levels for the scopes its matchers select (e.g. ``region=apac``)."""

    matchers: tuple[str, ...] = Field(min_length=1)

    @field_validator("matchers")
    @classmethod
    def _parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            Matcher.parse(item)
        return value


class ThresholdRule(Levels):
    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]{1,60}$")
    metric: str = Field(description="a metric definition id")
    window: str = Field(description="a window id of that metric")
    direction: Direction
    scope_by: tuple[str, ...] = Field((), description="dimensions evaluated separately; empty: the whole metric")
    min_n: int | None = Field(None, ge=1, description="default: the metric's minimum sample size")
    guard: Guard = Guard.POINT
    for_windows: int = Field(1, ge=1, description="consecutive windows beyond the level before firing")
    overrides: tuple[Override, ...] = Field((), description="the first override whose matchers match wins")
    summary: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ThresholdRule:
        for where, levels in (("rule", self), *((f"overrides[{i}]", o) for i, o in enumerate(self.overrides))):
            effective = self.levels_merged(levels)
            check_levels(effective, self.direction, where)
        return self

    def levels_merged(self, override: Levels) -> Levels:
        return Levels(
            warning=override.warning if override.warning is not None else self.warning,
            critical=override.critical if override.critical is not None else self.critical,
            clear=override.clear if override.clear is not None else self.clear,
        )

    def levels_for(self, scope: Mapping[str, str]) -> Levels:
        """Precedence: the first override (in file order) whose matchers all match the scope, field by field
        over the rule's own levels; put the most specific overrides first."""
        for override in self.overrides:
            if matches_all((Matcher.parse(m) for m in override.matchers), scope):
                return self.levels_merged(override)
        return Levels(warning=self.warning, critical=self.critical, clear=self.clear)


def check_levels(levels: Levels, direction: Direction, where: str) -> None:
    if levels.warning is None and levels.critical is None:
        raise ValueError(f"{where}: set a warning or a critical level")

    def worse(a: float, b: float) -> bool:
        return a < b if direction is Direction.BELOW else a > b

    if levels.warning is not None and levels.critical is not None and not worse(levels.critical, levels.warning):
        raise ValueError(f"{where}: critical must be beyond warning for a {direction.value} rule")
    first = levels.warning if levels.warning is not None else levels.critical
    assert first is not None
    if levels.clear is not None and worse(levels.clear, first):
        raise ValueError(f"{where}: clear must be on the good side of the first level (hysteresis)")


def _beyond(estimate: Estimate, level: float, direction: Direction, guard: Guard) -> bool:
    assert estimate.value is not None
    if guard is Guard.INTERVAL:
        edge = estimate.high if direction is Direction.BELOW else estimate.low
        value = estimate.value if edge is None else edge
    else:
        value = estimate.value
    return value < level if direction is Direction.BELOW else value > level


def severity_of(rule: ThresholdRule, levels: Levels, estimate: Estimate) -> Severity | None:
    if levels.critical is not None and _beyond(estimate, levels.critical, rule.direction, rule.guard):
        return Severity.CRITICAL
    if levels.warning is not None and _beyond(estimate, levels.warning, rule.direction, rule.guard):
        return Severity.WARNING
    return None


def cleared(rule: ThresholdRule, levels: Levels, estimate: Estimate) -> bool:
    """Back on the good side of the clear level (by the point estimate: resolving needs no guard)."""
    clear = (
        levels.clear
        if levels.clear is not None
        else (levels.warning if levels.warning is not None else levels.critical)
    )
    assert clear is not None and estimate.value is not None
    return estimate.value >= clear if rule.direction is Direction.BELOW else estimate.value <= clear


def scope_text(scope: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(scope.items()))


def breach_id(rule_id: str, scope: Mapping[str, str], started_ms: int) -> str:
    """Deterministic: the same rule, scope and start give the same id, so consumers can drop duplicates."""
    return "br-" + digest(f"{rule_id}|{scope_text(scope)}|{started_ms}")


@dataclass(frozen=True)
class BreachKey:
    """Which rule and scope a breach state belongs to (the breach-state table's key ``rule|scope``; rule ids
    hold no ``|``)."""

    rule_id: str
    scope: str  # :func:`scope_text` of the scope

    @classmethod
    def of(cls, rule_id: str, scope: Mapping[str, str]) -> BreachKey:
        return cls(rule_id, scope_text(scope))

    def encode(self) -> str:
        return f"{self.rule_id}|{self.scope}"

    @classmethod
    def decode(cls, text: str) -> BreachKey:
        rule_id, _, scope = text.partition("|")
        return cls(rule_id, scope)


@dataclass(frozen=True)
class BreachState:
    """What is remembered per rule and scope between windows."""

    streak: int = 0  # consecutive windows beyond a level
    open_id: str | None = None
    severity: Severity | None = None
    started_ms: int | None = None
    last_window_end_ms: int | None = None

    def to_json(self) -> dict[str, Json]:
        return {
            "streak": self.streak,
            "open_id": self.open_id,
            "severity": self.severity.value if self.severity else None,
            "started_ms": self.started_ms,
            "last_window_end_ms": self.last_window_end_ms,
        }

    @classmethod
    def from_json(cls, data: object) -> BreachState:
        value = obj(data, "breach state")
        severity = opt_str(value.get("severity"))
        return cls(
            streak=as_int(value.get("streak", 0)),
            open_id=opt_str(value.get("open_id")) or None,
            severity=Severity(severity) if severity else None,
            started_ms=opt_int(value.get("started_ms")),
            last_window_end_ms=opt_int(value.get("last_window_end_ms")),
        )


@dataclass(frozen=True)
class BreachChange:
    breach_id: str
    rule_id: str
    status: Status
    severity: Severity
    scope: Mapping[str, str]
    estimate: Estimate
    threshold: float
    direction: Direction
    started_ms: int
    window_end_ms: int


def evaluate(
    rule: ThresholdRule, scope: Mapping[str, str], estimate: Estimate, window_end_ms: int, state: BreachState
) -> tuple[BreachState, BreachChange | None]:
    """One window's verdict for one scope. Windows must come in order; a window seen before changes nothing
    (replays are harmless). An insufficient sample neither fires nor resolves."""
    if state.last_window_end_ms is not None and window_end_ms <= state.last_window_end_ms:
        return state, None
    state = replace(state, last_window_end_ms=window_end_ms)
    if estimate.value is None or (rule.min_n is not None and estimate.n < rule.min_n):
        return state, None
    levels = rule.levels_for(scope)
    severity = severity_of(rule, levels, estimate)
    threshold_of = {Severity.CRITICAL: levels.critical, Severity.WARNING: levels.warning}

    def change(status: Status, sev: Severity, started: int, bid: str) -> BreachChange:
        level = threshold_of[sev]
        assert level is not None
        return BreachChange(
            bid, rule.id, status, sev, dict(scope), estimate, level, rule.direction, started, window_end_ms
        )

    if state.open_id is None:
        if severity is None:
            return replace(state, streak=0), None
        streak = state.streak + 1
        if streak < rule.for_windows:
            return replace(state, streak=streak), None
        bid = breach_id(rule.id, scope, window_end_ms)
        opened = BreachState(streak, bid, severity, window_end_ms, window_end_ms)
        return opened, change(Status.FIRING, severity, window_end_ms, bid)
    assert state.started_ms is not None and state.severity is not None
    if severity is None and cleared(rule, levels, estimate):
        return BreachState(last_window_end_ms=window_end_ms), change(
            Status.RESOLVED, state.severity, state.started_ms, state.open_id
        )
    if severity is not None and severity is not state.severity:
        updated = replace(state, severity=severity, streak=state.streak + 1)
        return updated, change(Status.UPDATED, severity, state.started_ms, state.open_id)
    return replace(state, streak=state.streak + 1 if severity else 0), None
