"""Threshold rules against the live metric windows: which windows each rule reads, in which scopes, and the
``cx.breaches`` records their verdicts become. Pure: the agent passes the cells, the states and the time."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cxstream.domain.alerting.detection import observation
from cxstream.domain.alerting.records import Breach, BreachKind, Direction, Status
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.alerting.spec import Alerting
from cxstream.domain.alerting.thresholds import (
    BreachChange,
    BreachKey,
    BreachState,
    Buckets,
    Method,
    ThresholdRule,
    evaluate,
    evaluate_test,
)
from cxstream.domain.base import from_ms, to_ms
from cxstream.domain.metrics.cells import Cell
from cxstream.domain.metrics.spec import MetricsSpec
from cxstream.domain.metrics.stats import Sufficient
from cxstream.domain.metrics.windows import WindowValue, bucket_series, read_window, scopes


def state_key(rule: ThresholdRule, scope: Mapping[str, str]) -> BreachKey:
    return BreachKey.of(rule.id, scope)


def rule_scopes(rule: ThresholdRule, spec: MetricsSpec, cells: list[Cell]) -> list[dict[str, str]]:
    """Every combination of the ``scope_by`` values present in the rule's metric (one empty scope when the
    rule watches the metric as a whole)."""
    if not rule.scope_by:
        return [{}]
    values = [scopes(spec, cells, rule.metric, dimension) for dimension in rule.scope_by]
    return [dict(zip(rule.scope_by, combo, strict=True)) for combo in itertools.product(*values)]


@dataclass(frozen=True)
class Verdict:
    change: BreachChange
    window: WindowValue


def assess(
    rule: ThresholdRule,
    spec: MetricsSpec,
    cells: Iterable[Cell],
    states: Mapping[BreachKey, BreachState],
    now: datetime,
) -> tuple[dict[BreachKey, BreachState], list[Verdict]]:
    """Evaluate every scope of ``rule``: by its sequential test (:func:`assess_test`), or on the windows that
    ended since it was last evaluated (at most the last ``for_windows`` ones, oldest first, so that a worker
    that was down catches up on the streak)."""
    materialized = list(cells)
    if rule.method is Method.CUSUM:
        tested = assess_test(rule, spec, materialized, states, now)
        return tested.states, tested.verdicts
    new_states: dict[BreachKey, BreachState] = {}
    verdicts: list[Verdict] = []
    for scope in rule_scopes(rule, spec, materialized):
        key = state_key(rule, scope)
        state = states.get(key, BreachState())
        for back in range(rule.for_windows - 1, -1, -1):
            window = read_window(
                spec, materialized, rule.metric, rule.window, now=now, where=scope, ended=True, back=back
            )
            state, change = evaluate(rule, scope, window.estimate, to_ms(window.end), state)
            if change is not None:
                verdicts.append(Verdict(change, window))
        if state != states.get(key):
            new_states[key] = state
    return new_states, verdicts


@dataclass(frozen=True)
class TestRound:
    """One cusum rule's evaluation: the states that changed, the verdicts, and the false breaches a day its
    scopes expect at the volumes they had in the buckets read (None where a mean has no variance yet)."""

    states: dict[BreachKey, BreachState]
    verdicts: list[Verdict]
    expected_per_day: dict[str, float | None]


def assess_test(
    rule: ThresholdRule,
    spec: MetricsSpec,
    cells: list[Cell],
    states: Mapping[BreachKey, BreachState],
    now: datetime,
) -> TestRound:
    """The cusum test of every scope of ``rule`` over the 5-minute buckets ended by ``now``: those final (past
    grace) are settled into the saved state, the later ones replayed from it. Buckets are read as far back as
    the 5-minute cells are kept; a worker down for longer skips the evidence in between."""
    indicator = spec.definition(rule.metric).indicator
    fine = spec.finest_ms
    now_ms = to_ms(now)
    ended = now_ms - now_ms % fine
    final = min(ended, (now_ms - spec.grace_ms) - (now_ms - spec.grace_ms) % fine)
    lookback = max(fine, (spec.retention_ms(fine) - 2 * fine) // fine * fine)
    new_states: dict[BreachKey, BreachState] = {}
    verdicts: list[Verdict] = []
    expected: dict[str, float | None] = {}
    for scope in rule_scopes(rule, spec, cells):
        key = state_key(rule, scope)
        state = states.get(key, BreachState())
        test = rule.test_for(scope, indicator)
        start = max(state.settled.through_ms if state.settled else 0, ended - lookback)
        through = max(start, final)
        series = bucket_series(spec, cells, rule.metric, start, ended, scope)
        cut = (through - start) // fine
        window = read_window(spec, cells, rule.metric, rule.window, now=now, where=scope, ended=True)
        # the variance of means: from the buckets read and the rule's window, the larger sample of the two
        pooled = max(Sufficient.merged(series), window.stats or Sufficient(), key=lambda s: s.n + s.responses)
        buckets = Buckets(series[:cut], through, series[cut:], test.variance(pooled))
        answers = sum(observation(indicator, b).n for b in series)
        expected[key.scope] = test.false_breaches_per_day(answers / max(1, len(series)), buckets.variance)
        state, change = evaluate_test(rule, test, scope, buckets, window.estimate, ended, state)
        if change is not None:
            verdicts.append(Verdict(change, window))
        if state != states.get(key):
            new_states[key] = state
    return TestRound(new_states, verdicts, expected)


def breach_record(verdict: Verdict, rule: ThresholdRule, owner: str, now: datetime) -> Breach:
    """The ``cx.breaches`` record (schema ``cxstream.Breach``) of one verdict."""
    change, window = verdict.change, verdict.window
    estimate = change.estimate
    where = ", ".join(f"{k} {v}" for k, v in sorted(change.scope.items())) or "overall"
    word = "below" if change.direction is Direction.BELOW else "above"
    summary = (
        f"{rule.summary or rule.id}: {rule.metric} in {where} {estimate.describe()} "
        f"{word} {change.severity.value.lower()} level {change.threshold:g}{estimate.unit.strip()}"
        if change.status is not Status.RESOLVED
        else f"{rule.summary or rule.id}: {rule.metric} in {where} back to {estimate.describe()}"
    ) + (f"; {change.evidence}" if change.evidence else "")
    return Breach(
        breach_id=change.breach_id,
        rule_id=rule.id,
        kind=BreachKind.THRESHOLD,
        status=change.status,
        severity=change.severity,
        metric=rule.metric,
        scope=dict(change.scope),
        labels={
            "rule": rule.id,
            "metric": rule.metric,
            "owner": owner,
            "severity": change.severity.value,
            **change.scope,
        },
        window_start=window.start,
        window_end=window.end,
        value=estimate.value,
        interval_low=estimate.low,
        interval_high=estimate.high,
        confidence=estimate.confidence,
        n=estimate.n,
        threshold=change.threshold,
        direction=change.direction,
        started_at=from_ms(change.started_ms),
        updated_at=now,
        summary=summary,
    )


@dataclass(frozen=True)
class ThresholdRound:
    """One evaluation of every threshold rule: the breach records to publish (in order), the states that
    changed, and how many breaches are open per rule and severity afterwards."""

    breaches: tuple[Breach, ...] = ()
    changed: Mapping[BreachKey, BreachState] = field(default_factory=dict)
    open_counts: Mapping[tuple[str, Severity], int] = field(default_factory=dict)
    # per cusum rule: false breaches a day expected over its scopes at the volumes they have now
    expected_false_per_day: Mapping[str, float] = field(default_factory=dict)


def evaluate_thresholds(
    alerting: Alerting,
    metrics: MetricsSpec,
    cells: list[Cell],
    known: Mapping[BreachKey, BreachState],
    now: datetime,
) -> ThresholdRound:
    """Every threshold rule on the windows that ended, given the states remembered so far."""
    owners = {d.id: d.owner for d in metrics.definitions}
    states = dict(known)
    published: list[Breach] = []
    changed: dict[BreachKey, BreachState] = {}
    expected: dict[str, float] = {}
    for rule in alerting.thresholds:
        mine = {k: v for k, v in states.items() if k.rule_id == rule.id}
        if rule.method is Method.CUSUM:
            tested = assess_test(rule, metrics, cells, mine, now)
            new_states, verdicts = tested.states, tested.verdicts
            expected[rule.id] = sum(v for v in tested.expected_per_day.values() if v is not None)
        else:
            new_states, verdicts = assess(rule, metrics, cells, mine, now)
        published += [breach_record(verdict, rule, owners.get(rule.metric, ""), now) for verdict in verdicts]
        changed.update(new_states)
        states.update(new_states)
    opened: Counter[tuple[str, Severity]] = Counter(
        (key.rule_id, state.severity) for key, state in states.items() if state.open_id and state.severity
    )
    counts = {
        (rule.id, severity): opened[(rule.id, severity)]
        for rule in alerting.thresholds
        for severity in (Severity.WARNING, Severity.CRITICAL)
    }
    return ThresholdRound(tuple(published), changed, counts, expected)
