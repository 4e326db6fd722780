"""Playbooks: standard operating procedures that carry a CX initiative from one location to all of them.

A playbook is a versioned record with steps, the metrics it should move, and regulatory rules (contact
frequency, personal-data handling, consent); local adaptations (language, regulation, culture) override steps and
rules for a region or site, and may tighten a regulatory rule but never loosen it (checked at start: a longer
minimum interval between contacts, a shorter retention of personal data, a consent kept required). Rollout waves
take a version to sites on a date; per wave, each site's target metrics before and after, and the spread across
sites: is the initiative working everywhere, or only where it started?
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from cxstream.domain.base import Strict
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import MetricDefinition, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient, wilson
from cxstream.domain.remediation.verdict import measured


class RuleKind(StrEnum):
    MIN_INTERVAL = "min_interval"  # at least this long between two contacts: tighter is longer
    MAX_RETENTION = "max_retention"  # keep personal data at most this long: tighter is shorter
    REQUIRED = "required"  # must be done (e.g. consent before recording): tighter is required


class RegulatoryRule(Strict):
    kind: RuleKind
    value: str = Field(description="a duration for min_interval and max_retention; 'yes' or 'no' for required")

    def strictness(self) -> float:
        """Higher is stricter, comparable between two values of the same kind."""
        if self.kind is RuleKind.REQUIRED:
            return 1.0 if self.value == "yes" else 0.0
        ms = parse_duration_ms(self.value)
        return float(ms) if self.kind is RuleKind.MIN_INTERVAL else -float(ms)

    @model_validator(mode="after")
    def _value(self) -> RegulatoryRule:
        if self.kind is RuleKind.REQUIRED:
            if self.value not in ("yes", "no"):
                raise ValueError("a required rule is 'yes' or 'no'")
        else:
            parse_duration_ms(self.value)
        return self


class Step(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    text: str = Field(min_length=3)


class Adaptation(Strict):
    """A local version: for a region or a site, steps replaced or added, rules tightened, a language."""

    where: dict[str, str] = Field(description="region or site, e.g. {region: emea}")
    reason: str = Field(min_length=3, description="language, regulation or culture: why it differs")
    language: str | None = None
    steps: list[Step] = Field(default_factory=list, description="steps replaced (same id) or added")
    rules: dict[str, RegulatoryRule] = Field(default_factory=dict, description="rules tightened")

    @model_validator(mode="after")
    def _where(self) -> Adaptation:
        if not self.where or set(self.where) - {"region", "site"}:
            raise ValueError("an adaptation applies to a region or a site")
        return self


class Wave(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    version: str
    sites: list[str] = Field(min_length=1)
    starts: date = Field(description="the day the wave's sites start running the version")


class Playbook(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,60}$")
    display: str = Field(min_length=3)
    version: str = Field(description="the current central version")
    owner: str = Field(description="the team that keeps it")
    metrics: list[str] = Field(min_length=1, description="metric ids it should move (shares and NPS)")
    steps: list[Step] = Field(min_length=1)
    rules: dict[str, RegulatoryRule] = Field(default_factory=dict)
    adaptations: list[Adaptation] = Field(default_factory=list)
    waves: list[Wave] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tighten_only(self) -> Playbook:
        ids = [s.id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError("two steps share an id")
        for i, adaptation in enumerate(self.adaptations):
            for name, rule in adaptation.rules.items():
                central = self.rules.get(name)
                if central is None:
                    continue  # a local rule the central playbook does not have: only adds duties
                if rule.kind is not central.kind:
                    raise ValueError(f"adaptations[{i}].rules.{name}: kind {rule.kind.value} differs from the "
                                     f"central {central.kind.value}")  # fmt: skip
                if rule.strictness() < central.strictness():
                    raise ValueError(f"adaptations[{i}].rules.{name}: {rule.value} loosens the central "
                                     f"{central.value} ({reason_of(rule.kind)})")  # fmt: skip
        waves = [w.id for w in self.waves]
        if len(set(waves)) != len(waves):
            raise ValueError("two waves share an id")
        return self

    def for_site(self, site: str, region: str | None) -> EffectivePlaybook:
        """The playbook a site runs: the central one with the adaptations for its region, then for the site."""
        steps = {s.id: s for s in self.steps}
        order = [s.id for s in self.steps]
        rules = dict(self.rules)
        applied, language = [], None
        chosen = [a for a in self.adaptations if a.where.get("region") == region and "site" not in a.where]
        chosen += [a for a in self.adaptations if a.where.get("site") == site]
        for adaptation in chosen:
            applied.append(adaptation.reason)
            language = adaptation.language or language
            for step in adaptation.steps:
                if step.id not in steps:
                    order.append(step.id)
                steps[step.id] = step
            rules.update(adaptation.rules)
        return EffectivePlaybook(self.id, self.version, tuple(steps[i] for i in order), rules, tuple(applied),
                                 language)  # fmt: skip


def reason_of(kind: RuleKind) -> str:
    return {RuleKind.MIN_INTERVAL: "a minimum interval may only grow",
            RuleKind.MAX_RETENTION: "a retention may only shrink",
            RuleKind.REQUIRED: "a required duty stays required"}[kind]  # fmt: skip


@dataclass(frozen=True)
class EffectivePlaybook:
    playbook: str
    version: str
    steps: tuple[Step, ...]
    rules: Mapping[str, RegulatoryRule]
    adaptations: tuple[str, ...]
    language: str | None


class FeedbackRule(Strict):
    """``playbooks.feedback``: when partner feedback on a step proposes a revision."""

    reports: int = Field(3, ge=1, description="reports on one step of the current version that make a revision due")
    partners: int = Field(2, ge=1, description="... from at least this many different partners")
    critical_alone: bool = Field(True, description="one critical report makes a revision due by itself")
    window: str = Field("90d", description="reports older than this do not count towards a revision")
    committee: str | None = Field(None, description="the committee that decides revisions (default: the first "
                                                    "that decides playbook_revision)")  # fmt: skip
    shown: int = Field(5, ge=1, le=50, description="latest reports shown per step")

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_duration_ms(value)
        return value

    @property
    def window_ms(self) -> int:
        return parse_duration_ms(self.window)


class Playbooks(Strict):
    """``playbooks:`` in the topology."""

    playbooks: list[Playbook] = Field(default_factory=list)
    compare_days: int = Field(14, ge=3, le=120, description="days before and after a wave that are compared")
    feedback: FeedbackRule = Field(default_factory=FeedbackRule, description="when partner feedback proposes a "
                                   "revision")  # fmt: skip

    @model_validator(mode="after")
    def _unique(self) -> Playbooks:
        ids = [p.id for p in self.playbooks]
        if len(set(ids)) != len(ids):
            raise ValueError("two playbooks share an id")
        return self

    def playbook(self, playbook_id: str) -> Playbook | None:
        return next((p for p in self.playbooks if p.id == playbook_id), None)


# --- waves: before and after, and the spread across sites ---------------------------------------------------


@dataclass(frozen=True)
class SiteChange:
    site: str
    before: float | None
    after: float | None
    n_before: int
    n_after: int
    difference: float | None  # after - before (share or NPS fraction)
    se: float | None


@dataclass(frozen=True)
class WaveReport:
    wave: str
    metric: str
    sites: tuple[SiteChange, ...]
    pooled: float | None  # the mean of the sites' differences, each weighted by its precision
    pooled_low: float | None
    pooled_high: float | None
    improved: int  # sites whose difference is positive (in the good direction)
    compared: int  # sites with both sides
    improved_low: float | None  # Wilson interval of the share of sites that improved
    improved_high: float | None
    spread: float | None  # tau: the between-site standard deviation of the true changes (DerSimonian-Laird)
    higher_is_better: bool


def _side(definition: MetricDefinition, stats: Sufficient) -> tuple[float | None, int, float | None]:
    """(value, n, its variance) of one site and side."""
    m = measured(definition, stats)
    if m is None or not m.n:
        return None, 0, None
    value = m.value or 0.0
    if m.kind == "nps":
        p, d = m.hits / m.n, m.detractors / m.n
        return value, m.n, max(p + d - (p - d) ** 2, 1e-9) / m.n
    return value, m.n, max(value * (1 - value), 0.25 / m.n) / m.n


def wave_report(wave: Wave, definition: MetricDefinition, before: Mapping[str, Sufficient],
                after: Mapping[str, Sufficient], min_n: int, confidence: float) -> WaveReport:  # fmt: skip
    """Each site's change and the spread across the wave's sites (sites below ``min_n`` on a side are shown but
    not pooled)."""
    probe = measured(definition, Sufficient())
    better = probe.higher_is_better if probe is not None else True
    rows, effects = [], []
    for site in wave.sites:
        b, nb, vb = _side(definition, before.get(site, Sufficient()))
        a, na, va = _side(definition, after.get(site, Sufficient()))
        if b is None or a is None or vb is None or va is None or nb < min_n or na < min_n:
            rows.append(SiteChange(site, b, a, nb, na, None, None))
            continue
        se = math.sqrt(vb + va)
        rows.append(SiteChange(site, b, a, nb, na, a - b, se))
        effects.append((a - b, se))
    pooled = low = high = spread = None
    improved = sum(1 for d, _ in effects if (d > 0) == better and d != 0)
    if effects:
        weights = [1 / (se * se) for _, se in effects]
        fixed = sum(w * d for w, (d, _) in zip(weights, effects, strict=True)) / sum(weights)
        q = sum(w * (d - fixed) ** 2 for w, (d, _) in zip(weights, effects, strict=True))
        k = len(effects)
        denominator = sum(weights) - sum(w * w for w in weights) / sum(weights)
        tau2 = max(0.0, (q - (k - 1)) / denominator) if k > 1 and denominator > 0 else 0.0
        random_w = [1 / (se * se + tau2) for _, se in effects]
        pooled = sum(w * d for w, (d, _) in zip(random_w, effects, strict=True)) / sum(random_w)
        z = 1.959964 if abs(confidence - 0.95) < 1e-9 else _z(confidence)
        half = z / math.sqrt(sum(random_w))
        low, high, spread = pooled - half, pooled + half, math.sqrt(tau2)
    share_low = share_high = None
    if effects:
        share_low, share_high = wilson(improved, len(effects), confidence)
    return WaveReport(wave.id, definition.id, tuple(rows), pooled, low, high, improved, len(effects), share_low,
                      share_high, spread, better)  # fmt: skip


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def days_around(on: date, days: int) -> tuple[date, date, date]:
    """(first day before, the wave's day, the day after the last one compared after)."""
    from datetime import timedelta

    return on - timedelta(days=days), on, on + timedelta(days=days)


def sites_of(playbooks: Sequence[Playbook]) -> set[str]:
    return {s for p in playbooks for w in p.waves for s in w.sites}


def wave_reports(playbook: Playbook, metrics: MetricsSpec, index: HistoryIndex, days: int, min_n: int,
                 today: date) -> list[WaveReport]:  # fmt: skip
    """Every wave of a playbook on each of its metrics: the ``days`` before the wave's day against the days after
    it up to ``days``, closed days only (from the metric history)."""
    from datetime import timedelta

    from cxstream.domain.locations.variance import site_days

    out = []
    for wave in playbook.waves:
        first, on, last = days_around(wave.starts, days)
        last = min(last, today)  # days after the wave that have closed
        for metric in playbook.metrics:
            definition = metrics.definition(metric)
            span = site_days(index, metric, _ms(first), _ms(max(last, on + timedelta(days=0))))
            before = {s: Sufficient.merged(v for d, v in days_.items() if d < _ms(on)) for s, days_ in span.items()}
            after = {s: Sufficient.merged(v for d, v in days_.items() if d >= _ms(on)) for s, days_ in span.items()}
            out.append(wave_report(wave, definition, before, after, min_n, metrics.confidence))
    return out


def _ms(day: date) -> int:
    from datetime import UTC, datetime

    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def rollout_map(playbooks: Sequence[Playbook], sites: Sequence[str], today: date) -> dict[str, dict[str, str | None]]:
    """playbook -> site -> the version it runs today (the latest wave that has started there), None: not yet."""
    out: dict[str, dict[str, str | None]] = {}
    for playbook in playbooks:
        running: dict[str, tuple[date, str]] = {}
        for wave in playbook.waves:
            if wave.starts > today:
                continue
            for site in wave.sites:
                if site not in running or wave.starts >= running[site][0]:
                    running[site] = (wave.starts, wave.version)
        out[playbook.id] = {s: (running[s][1] if s in running else None) for s in sites}
    return out
