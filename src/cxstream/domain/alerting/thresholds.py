"""Threshold rules and the breach lifecycle: when a metric crosses a warning or critical level in some scope, a
breach fires; it is updated when its severity changes and resolved once the metric is back (hysteresis).
Pure: the agent feeds it evaluations in time order.

Two methods decide what "crossed" means:

* ``cusum`` (the default): a sequential test on the non-overlapping 5-minute buckets with a declared
  false-alarm budget and the same evidence standard for resolving as for firing
  (:mod:`cxstream.domain.alerting.detection`);
* ``window``: the rule's window against the levels at every evaluation, with no decision below the minimum
  sample size, an optional statistical guard (the whole interval beyond the level, for firing and for
  clearing alike) and a required duration (N consecutive evaluations; one with too few answers breaks the
  streak). Consecutive hopping windows share most of their data, so N adds little evidence: prefer cusum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from cxstream.domain.alerting.cusum import LevelState, threshold_for
from cxstream.domain.alerting.detection import Hypotheses, Settled, Test, severity_of_levels
from cxstream.domain.alerting.matchers import matches_all, parse_all
from cxstream.domain.alerting.records import Direction, Status
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.base import Json, Strict, as_int, digest, obj, opt_int, opt_str
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.metrics.spec import Indicator
from cxstream.domain.metrics.stats import Estimate, Sufficient
from cxstream.domain.origin import Origin


class Method(StrEnum):
    CUSUM = "cusum"  # a sequential test on non-overlapping buckets, with a declared false-alarm budget
    WINDOW = "window"  # the rule's window against the levels at each evaluation


class Budget(Strict):
    """At most ``false_breaches`` per ``per`` across ``scopes`` scopes, when the truth sits ``no_change`` on the
    good side of the level: the cusum threshold is derived from it."""

    false_breaches: float = Field(1.0, gt=0)
    per: str = "30d"
    scopes: int = Field(1, ge=1, description="how many scopes share the budget (e.g. the regions watched)")

    @field_validator("per")
    @classmethod
    def _per(cls, value: str) -> str:
        if parse_duration_ms(value) < 3_600_000:
            raise ValueError("a false-alarm budget is counted per hour or longer")
        return value

    @property
    def per_ms(self) -> int:
        return parse_duration_ms(self.per)

    def buckets_between(self, bucket_ms: int) -> float:
        """The in-control run length each scope must reach, in buckets."""
        return self.per_ms * self.scopes / self.false_breaches / bucket_ms

    def describe(self) -> str:
        across = f" across {self.scopes} scopes" if self.scopes > 1 else " per scope"
        return f"{self.false_breaches:g} false breach per {self.per}{across}"


BUCKET_MS = 300_000  # the cusum test's step: one real-time bucket


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
        parse_all(value)
        return value


class ThresholdRule(Levels):
    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]{1,60}$")
    metric: str = Field(description="a metric definition id")
    window: str = Field(description="a window id of that metric")
    direction: Direction
    scope_by: tuple[str, ...] = Field((), description="dimensions evaluated separately; empty: the whole metric")
    min_n: int | None = Field(None, ge=1, description="default: the metric's minimum sample size")
    method: Method = Method.CUSUM
    no_change: float | None = Field(
        None, gt=0, description="cusum: how far on the good side of a level counts as no change; default: clear"
    )
    budget: Budget = Field(default_factory=Budget, description="cusum: the false breaches allowed")
    guard: Guard = Guard.POINT
    for_windows: int = Field(1, ge=1, description="window: consecutive evaluations beyond the level to fire")
    overrides: tuple[Override, ...] = Field((), description="the first override whose matchers match wins")
    summary: str = ""
    origin: Origin | None = Field(None, description="where the levels came from (none: typed by hand)")

    @model_validator(mode="after")
    def _consistent(self) -> ThresholdRule:
        for where, levels in (("rule", self), *((f"overrides[{i}]", o) for i, o in enumerate(self.overrides))):
            effective = self.levels_merged(levels)
            check_levels(effective, self.direction, where)
            if self.method is Method.CUSUM and self.distance(effective) is None:
                raise ValueError(f"{where}: a cusum rule needs no_change (or a clear level apart from the first)")
        if self.method is Method.CUSUM and (self.guard is not Guard.POINT or self.for_windows != 1):
            raise ValueError("guard and for_windows belong to method: window; a cusum rule sets no_change and budget")
        return self

    def distance(self, levels: Levels) -> float | None:
        """The "no change" distance of the cusum test: ``no_change``, or the first level's distance to clear."""
        if self.no_change is not None:
            return self.no_change
        first = levels.warning if levels.warning is not None else levels.critical
        if levels.clear is None or first is None or levels.clear == first:
            return None
        return abs(levels.clear - first)

    @property
    def h(self) -> float:
        """The cusum threshold the budget demands (5-minute buckets)."""
        return threshold_for(self.budget.buckets_between(BUCKET_MS))

    def test_for(self, scope: Mapping[str, str], indicator: Indicator) -> Test:
        """The sequential test of this rule in one scope."""
        levels = self.levels_for(scope)
        distance = self.distance(levels)
        assert distance is not None
        hypotheses = {
            severity: Hypotheses.of(level, distance, self.direction)
            for severity, level in ((Severity.CRITICAL, levels.critical), (Severity.WARNING, levels.warning))
            if level is not None
        }
        return Test(indicator, hypotheses, self.h, distance)

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
            if matches_all(parse_all(override.matchers), scope):
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
    """Back on the good side of the clear level, by the same standard as firing: with the interval guard the
    whole interval must be there, not just the estimate."""
    clear = (
        levels.clear
        if levels.clear is not None
        else (levels.warning if levels.warning is not None else levels.critical)
    )
    assert clear is not None and estimate.value is not None
    value = estimate.value
    if rule.guard is Guard.INTERVAL:
        edge = estimate.low if rule.direction is Direction.BELOW else estimate.high
        value = value if edge is None else edge
    return value >= clear if rule.direction is Direction.BELOW else value <= clear


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
    settled: Settled | None = None  # cusum: the test's state through the last final bucket

    def to_json(self) -> dict[str, Json]:
        out: dict[str, Json] = {
            "streak": self.streak,
            "open_id": self.open_id,
            "severity": self.severity.value if self.severity else None,
            "started_ms": self.started_ms,
            "last_window_end_ms": self.last_window_end_ms,
        }
        if self.settled is not None:
            out["settled"] = self.settled.to_json()  # type: ignore[assignment]
        return out

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
            settled=Settled.from_json(value["settled"]) if value.get("settled") is not None else None,
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
    evidence: str = ""  # how the method decided, for the breach's summary


def evaluate(
    rule: ThresholdRule, scope: Mapping[str, str], estimate: Estimate, window_end_ms: int, state: BreachState
) -> tuple[BreachState, BreachChange | None]:
    """One window's verdict for one scope. Windows must come in order; a window seen before changes nothing
    (replays are harmless). An insufficient sample neither fires nor resolves."""
    if state.last_window_end_ms is not None and window_end_ms <= state.last_window_end_ms:
        return state, None
    state = replace(state, last_window_end_ms=window_end_ms)
    if estimate.value is None or (rule.min_n is not None and estimate.n < rule.min_n):
        return replace(state, streak=0), None  # no evidence: a streak needs consecutive evaluations that say so
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


@dataclass(frozen=True)
class Buckets:
    """What one cusum evaluation reads in one scope: the buckets that became final since the settled state
    (folded into it for good), those ended but still open to late answers (replayed from it), where the
    settled part now ends, and the per-answer variance for means."""

    settle: list[Sufficient]
    settle_through_ms: int
    pending: list[Sufficient]
    variance: float | None


def _carried(state: BreachState, test: Test) -> dict[Severity, LevelState]:
    """The settled level states; a breach opened before the rule had a test (a state saved by the window
    method) carries over as breached at its severity and below, so it resolves on evidence, not on upgrade."""
    if state.settled is not None:
        return dict(state.settled.levels)
    if state.open_id is None or state.severity is None:
        return {}
    opened = state.severity
    return {s: LevelState(breached=s.rank <= opened.rank) for s in test.levels}


def evaluate_test(
    rule: ThresholdRule,
    test: Test,
    scope: Mapping[str, str],
    buckets: Buckets,
    estimate: Estimate,
    window_end_ms: int,
    state: BreachState,
) -> tuple[BreachState, BreachChange | None]:
    """One cusum evaluation for one scope; ``estimate`` is the rule's window, shown in the breach. Like
    :func:`evaluate`, a time seen before changes nothing."""
    if state.last_window_end_ms is not None and window_end_ms <= state.last_window_end_ms:
        return state, None
    settled = test.run(_carried(state, test), buckets.settle, buckets.variance)
    current = test.run(settled, buckets.pending, buckets.variance)
    severity = severity_of_levels(current)
    base = replace(state, last_window_end_ms=window_end_ms, settled=Settled(buckets.settle_through_ms, settled))

    def change(status: Status, sev: Severity, started: int, bid: str) -> BreachChange:
        hyp = test.levels[sev]
        if status is Status.RESOLVED:
            evidence = f"cusum: evidence of {hyp.good:g} reached {test.h:.1f} ({rule.budget.describe()})"
        else:
            evidence = f"cusum: evidence of {hyp.bad:g} {current[sev].evidence or test.h:.1f} of {test.h:.1f} " \
                       f"({rule.budget.describe()})"  # fmt: skip
        return BreachChange(bid, rule.id, status, sev, dict(scope), estimate, hyp.bad, rule.direction, started,
                            window_end_ms, evidence)  # fmt: skip

    if state.open_id is None:
        if severity is None:
            return base, None
        bid = breach_id(rule.id, scope, window_end_ms)
        opened = replace(base, open_id=bid, severity=severity, started_ms=window_end_ms)
        return opened, change(Status.FIRING, severity, window_end_ms, bid)
    assert state.started_ms is not None and state.severity is not None
    if severity is None:
        closed = replace(base, open_id=None, severity=None, started_ms=None)
        return closed, change(Status.RESOLVED, state.severity, state.started_ms, state.open_id)
    if severity is not state.severity:
        return replace(base, severity=severity), change(Status.UPDATED, severity, state.started_ms, state.open_id)
    return base, None
