"""Threshold rules against the live metric windows: which windows each rule reads, in which scopes, and the
``cx.breaches`` records their verdicts become. Pure: the agent passes the cells, the states and the time."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cxstream.domain.breaches import BreachChange, BreachState, ThresholdRule, evaluate, scope_text
from cxstream.domain.metrics import Cell, MetricsSpec, WindowValue, read_window, scopes


def state_key(rule: ThresholdRule, scope: Mapping[str, str]) -> str:
    return f"{rule.id}|{scope_text(scope)}"


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
    states: Mapping[str, BreachState],
    now: datetime,
) -> tuple[dict[str, BreachState], list[Verdict]]:
    """Evaluate every scope of ``rule`` on the windows that ended since it was last evaluated (at most the last
    ``for_windows`` ones, oldest first, so that a worker that was down catches up on the streak)."""
    materialized = list(cells)
    new_states: dict[str, BreachState] = {}
    verdicts: list[Verdict] = []
    for scope in rule_scopes(rule, spec, materialized):
        key = state_key(rule, scope)
        state = states.get(key, BreachState())
        for back in range(rule.for_windows - 1, -1, -1):
            window = read_window(
                spec, materialized, rule.metric, rule.window, now=now, where=scope, ended=True, back=back
            )
            end_ms = int(window.end.timestamp() * 1000)
            state, change = evaluate(rule, scope, window.estimate, end_ms, state)
            if change is not None:
                verdicts.append(Verdict(change, window))
        if state != states.get(key):
            new_states[key] = state
    return new_states, verdicts


def breach_record(verdict: Verdict, rule: ThresholdRule, owner: str, now: datetime) -> dict[str, Any]:
    """The ``cx.breaches`` record (schema ``cxstream.Breach``) of one verdict."""
    change, window = verdict.change, verdict.window
    estimate = change.estimate
    where = ", ".join(f"{k} {v}" for k, v in sorted(change.scope.items())) or "overall"
    word = "below" if change.direction.value == "BELOW" else "above"
    summary = (
        f"{rule.summary or rule.id}: {rule.metric} in {where} {estimate.describe()} "
        f"{word} {change.severity.value.lower()} level {change.threshold:g}{estimate.unit.strip()}"
        if change.status.value != "RESOLVED"
        else f"{rule.summary or rule.id}: {rule.metric} in {where} back to {estimate.describe()}"
    )
    return {
        "breach_id": change.breach_id,
        "rule_id": rule.id,
        "kind": "THRESHOLD",
        "status": change.status.value,
        "severity": change.severity.value,
        "metric": rule.metric,
        "scope": dict(change.scope),
        "labels": {
            "rule": rule.id,
            "metric": rule.metric,
            "owner": owner,
            "severity": change.severity.value,
            **change.scope,
        },
        "window_start": window.start,
        "window_end": window.end,
        "value": estimate.value,
        "interval_low": estimate.low,
        "interval_high": estimate.high,
        "confidence": estimate.confidence,
        "n": estimate.n,
        "threshold": change.threshold,
        "direction": change.direction.value,
        "started_at": datetime.fromtimestamp(change.started_ms / 1000, UTC),
        "updated_at": now,
        "event_ids": [],
        "summary": summary,
    }
