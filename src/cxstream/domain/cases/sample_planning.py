"""Sample planning: will each scope collect the minimum number of answers its metrics need?

Per scope (e.g. region x touchpoint) and metric window: expected answers = invites planned x response rate.
The response rate is observed (answers / invites sent), so it is uncertain: the plan uses the Wilson interval
of that rate, and calls a scope *short* when even the upper end of the expected answers stays below the
minimum n, *at risk* when only the lower end does. It says how many invites would reach the minimum at the
lower end of the rate, so sampling can rise where answers are short and fall where there are more than
enough (``surplus``: invites beyond what the minimum needs, at the lower end of the rate).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from cxstream.domain.base import as_str, as_time, text_map, to_ms
from cxstream.domain.ingest.events import CanonicalEvent, EventType
from cxstream.domain.metrics.spec import SURVEY_INDICATORS, MetricDefinition
from cxstream.domain.metrics.stats import wilson


class Verdict(StrEnum):
    ENOUGH = "enough"
    AT_RISK = "at_risk"
    SHORT = "short"
    NO_HISTORY = "no_history"  # no invites sent yet: no rate to plan with


@dataclass(frozen=True)
class ScopeHistory:
    scope: Mapping[str, str]
    invites_sent: int  # in the observation period
    answers: int  # answers to those invites
    invites_planned: int  # per metric window, at the current sampling


@dataclass(frozen=True)
class PlanRow:
    scope: Mapping[str, str]
    min_n: int
    invites_planned: int
    rate: float | None
    rate_low: float | None
    rate_high: float | None
    rate_n: int  # invites the rate was observed on
    expected_low: float | None
    expected_high: float | None
    invites_needed: int | None  # to reach min_n at the lower end of the rate
    verdict: Verdict

    @property
    def change(self) -> int | None:
        """Invites to add (positive) or that could go elsewhere (negative) per window."""
        return None if self.invites_needed is None else self.invites_needed - self.invites_planned

    def describe(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in sorted(self.scope.items())) or "overall"
        if self.rate is None or self.rate_low is None or self.rate_high is None:
            return f"{where}: no invites sent yet, no response rate to plan with"
        assert self.expected_low is not None and self.expected_high is not None
        return (
            f"{where}: {self.verdict.value}; response rate {self.rate:.1%} (n={self.rate_n} invites, 95% CI "
            f"{self.rate_low:.1%} to {self.rate_high:.1%}); {self.invites_planned} invites per window give "
            f"{self.expected_low:.0f} to {self.expected_high:.0f} answers against min n {self.min_n}; "
            f"{self.invites_needed} invites would reach it"
        )


def plan_row(history: ScopeHistory, min_n: int, confidence: float = 0.95) -> PlanRow:
    if history.invites_sent <= 0:
        return PlanRow(
            history.scope, min_n, history.invites_planned, None, None, None, 0, None, None, None, Verdict.NO_HISTORY
        )
    answers = min(history.answers, history.invites_sent)
    rate = answers / history.invites_sent
    low, high = wilson(answers, history.invites_sent, confidence)
    expected_low, expected_high = history.invites_planned * low, history.invites_planned * high
    needed = math.ceil(min_n / low) if low > 1e-9 else None  # no answers yet: no invite count is enough
    if expected_high < min_n:
        verdict = Verdict.SHORT
    elif expected_low < min_n:
        verdict = Verdict.AT_RISK
    else:
        verdict = Verdict.ENOUGH
    return PlanRow(
        history.scope, min_n, history.invites_planned, rate, low, high, history.invites_sent,
        expected_low, expected_high, needed, verdict,
    )  # fmt: skip


def plan(histories: Iterable[ScopeHistory], min_n: int, confidence: float = 0.95) -> list[PlanRow]:
    """Every scope, the ones that will not reach the minimum first (short, at risk, no history, enough)."""
    order = {Verdict.SHORT: 0, Verdict.AT_RISK: 1, Verdict.NO_HISTORY: 2, Verdict.ENOUGH: 3}
    rows = [plan_row(h, min_n, confidence) for h in histories]
    return sorted(rows, key=lambda r: (order[r.verdict], sorted(r.scope.items())))


@dataclass(frozen=True)
class Sighting:
    """One invite sent or one answer received: which survey, when, and the labels scopes are cut by."""

    survey: str  # CSAT, CES, NPS
    at_ms: int
    labels: Mapping[str, str]


SCOPE_LABELS = ("region", "site", "team", "channel", "journey_stage", "touchpoint", "customer_segment")


def invite_sighting(record: Mapping[str, object]) -> Sighting:
    """A ``cx.survey-invites`` record (schema ``cxstream.SurveyInvite``) as a sighting: decided when."""
    return Sighting(as_str(record["survey"], "survey"), to_ms(as_time(record["decided_at"], "decided_at")),
                    text_map(record.get("labels"), "labels"))  # fmt: skip


def answer_sighting(event: CanonicalEvent) -> Sighting | None:
    """A survey answer on ``cx.events`` as a sighting (None for any other event)."""
    if event.event_type is not EventType.SURVEY_RESPONSE or event.survey is None:
        return None
    labels = {name: value for name in SCOPE_LABELS if (value := getattr(event, name))}
    return Sighting(event.survey.metric.value, to_ms(event.event_time), labels)


def observed_span_ms(sightings: Iterable[Sighting], period_ms: int, now_ms: int) -> int:
    """How much of the asked period the data covers: from the first invite or answer in it to now (at least
    one millisecond), so that two minutes of data are not spread over seven days."""
    first = min((s.at_ms for s in sightings if s.at_ms >= now_ms - period_ms), default=None)
    return period_ms if first is None else max(1, min(period_ms, now_ms - first))


def scope_histories(
    definition: MetricDefinition, invites: Iterable[Sighting], answers: Iterable[Sighting], by: tuple[str, ...],
    period_ms: int, window_ms: int,
) -> list[ScopeHistory]:  # fmt: skip
    """Per scope (the values of ``by``), the invites sent and answers received for the definition's survey
    at its journey stages over the observation period, and the invites one window gets at that pace. The rate
    is answers over invites in the same period (answers are not joined to their invite)."""
    survey = SURVEY_INDICATORS.get(definition.indicator)
    if survey is None:
        return []

    def mine(items: Iterable[Sighting]) -> Counter[tuple[tuple[str, str], ...]]:
        counts: Counter[tuple[tuple[str, str], ...]] = Counter()
        for item in items:
            if item.survey != survey.value:
                continue
            if definition.journey_stages and item.labels.get("journey_stage") not in definition.journey_stages:
                continue
            counts[tuple((k, item.labels.get(k, "")) for k in by)] += 1
        return counts

    sent, answered = mine(invites), mine(answers)
    return [
        ScopeHistory(dict(scope), sent[scope], answered[scope], round(sent[scope] * window_ms / period_ms))
        for scope in sorted(set(sent) | set(answered))
    ]
