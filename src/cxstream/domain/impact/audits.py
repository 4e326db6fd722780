"""Audits: is a standard still kept months after it was rolled out?

An audit (``topologies/audits.yaml``) names the standard or procedure version it checks, the owning team, a
measurable check (a share metric from the metric history: SLA compliance, CSAT, effort, reopened tickets...), the
scopes it covers, its cadence (e.g. every 30 days) and how long it runs (e.g. a year after the rollout). Each
closed period of each scope is compared with the reference: the declared level of the standard, or the scope's
own first audited period (what the rollout reached). A drift is a fall that is both material (at least
``drift_points``) and significant (one-sided two-proportion z-test below ``alpha``): "ams-1's deliveries within
the SLA fell from 94.0 % (n=1,210) to 71.2 % (n=1,187) since 2026-10-05". A drift becomes a breach routed to the
owner; a later period back within the standard resolves it. Every period's result is published.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from statistics import NormalDist

from pydantic import Field, field_validator, model_validator

from cxstream.domain.alerting.records import Breach, BreachKind, Direction, Status
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.alerting.thresholds import breach_id
from cxstream.domain.base import Json, Record, Strict, as_str, from_ms, obj, opt_int, opt_str
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient, wilson
from cxstream.domain.remediation.verdict import measured


class Audit(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,60}$")
    standard: str = Field(min_length=3, description="the standard or procedure version audited, e.g. 'Late-delivery "
                                                    "handling v2'")  # fmt: skip
    owner: str = Field(description="the team a drift is routed to")
    metric: str = Field(description="a share metric the history keeps for the scopes (SLA compliance, CSAT ...)")
    scopes: list[dict[str, str]] = Field(min_length=1, description="e.g. [{site: ams-1}, {site: chi-1}]")
    starts: date = Field(description="the first day audited (the rollout)")
    cadence: str = Field("30d", description="one audit period per cadence")
    duration: str = Field("365d", description="how long after the start it is audited")
    level: float | None = Field(None, gt=0, lt=1, description="the standard's level as a share; none: each "
                                                              "scope's first audited period")  # fmt: skip
    drift_points: float = Field(5.0, gt=0, description="a fall of at least this many points ...")
    alpha: float = Field(0.01, gt=0, lt=0.5, description="... that is significant at this level (one-sided)")
    min_n: int = Field(30, ge=1, description="a period with fewer answers is not judged")
    severity: str = "WARNING"

    @field_validator("cadence", "duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_ms(value)
        return value

    @model_validator(mode="after")
    def _periods(self) -> Audit:
        if parse_duration_ms(self.cadence) % DAY_MS or parse_duration_ms(self.cadence) < DAY_MS:
            raise ValueError("the cadence is whole days")
        if self.severity not in ("WARNING", "CRITICAL"):
            raise ValueError("severity is WARNING or CRITICAL")
        if any(len(s) != 1 for s in self.scopes):
            raise ValueError("each scope is one dimension and value, e.g. {site: ams-1}")
        return self

    @property
    def start_ms(self) -> int:
        return int(datetime(self.starts.year, self.starts.month, self.starts.day, tzinfo=UTC).timestamp() * 1000)

    def periods(self, through_ms: int) -> list[tuple[int, int]]:
        """The closed periods up to ``through_ms`` (the end of the last final day), within the duration."""
        step, stop = parse_duration_ms(self.cadence), self.start_ms + parse_duration_ms(self.duration)
        out, start = [], self.start_ms
        while start + step <= min(through_ms, stop):
            out.append((start, start + step))
            start += step
        return out


class Audits(Strict):
    """``audits:`` in the topology."""

    audits: list[Audit] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Audits:
        ids = [a.id for a in self.audits]
        if len(set(ids)) != len(ids):
            raise ValueError("two audits share an id")
        return self


@dataclass(frozen=True)
class AuditResult:
    audit: str
    scope: Mapping[str, str]
    period_start_ms: int
    period_end_ms: int
    metric: str
    value: float | None  # the period's share
    n: int
    low: float | None
    high: float | None
    reference: float | None
    reference_n: int  # 0: a declared level
    p: float | None
    verdict: str  # holds, drift, insufficient, reference (the first period, which sets the reference)
    summary: str

    @property
    def key(self) -> str:
        where = ",".join(f"{k}={v}" for k, v in sorted(self.scope.items()))
        return f"{self.audit}|{where}|{self.period_start_ms}"

    def record(self) -> Record:
        return {
            "audit": self.audit, "scope": dict(self.scope), "period_start": _dt(self.period_start_ms),
            "period_end": _dt(self.period_end_ms), "metric": self.metric, "value": self.value, "n": self.n,
            "low": self.low, "high": self.high, "reference": self.reference, "reference_n": self.reference_n,
            "p": self.p, "verdict": self.verdict, "summary": self.summary,
        }  # fmt: skip


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _day(ms: int) -> str:
    return _dt(ms).date().isoformat()


def period_stats(index: HistoryIndex, metric: str, where: Mapping[str, str], start_ms: int, end_ms: int) -> Sufficient:
    stats = Sufficient()
    for fact in index.facts(metric, DAY_MS, start_ms, end_ms):
        if fact.within(where):
            stats.merge(fact.stats)
    return stats


def one_sided_fall(p_ref: float, n_ref: int, p_now: float, n_now: int) -> float:
    """P of a fall at least this large if nothing changed: the pooled two-proportion z-test, one-sided (a declared
    level, ``n_ref`` 0: the one-sample test against it)."""
    if n_ref:
        pooled = (p_ref * n_ref + p_now * n_now) / (n_ref + n_now)
        se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n_ref + 1 / n_now))
    else:
        se = math.sqrt(max(p_ref * (1 - p_ref), 1e-12) / n_now)
    return NormalDist().cdf((p_now - p_ref) / se)


def run_audit(audit: Audit, metrics: MetricsSpec, index: HistoryIndex, through_ms: int,
              names: Mapping[str, str] | None = None) -> list[AuditResult]:  # fmt: skip
    """Every closed period of every scope, judged against the reference."""
    definition = metrics.definition(audit.metric)
    probe = measured(definition, Sufficient())
    if probe is None:
        raise ValueError(f"{audit.metric} is not a share an audit can check")
    better = probe.higher_is_better
    out = []
    for where in audit.scopes:
        value = next(iter(where.values()))
        who = (names or {}).get(value, value)
        reference: tuple[float, int] | None = (audit.level, 0) if audit.level is not None else None
        since = _day(audit.start_ms)
        for start, end in audit.periods(through_ms):
            m = measured(definition, period_stats(index, audit.metric, where, start, end))
            period = f"{_day(start)} to {_day(end - DAY_MS)}"
            if m is None or m.value is None or m.n < audit.min_n:
                n = m.n if m is not None else 0
                out.append(AuditResult(audit.id, where, start, end, audit.metric, None, n, None, None,
                                       reference[0] if reference else None, reference[1] if reference else 0, None,
                                       "insufficient", f"{who}: {probe.label} {period}: {n} answers, fewer than "
                                       f"{audit.min_n}"))  # fmt: skip
                continue
            low, high = wilson(m.hits, m.n, 0.95)
            if reference is None:
                reference = (m.value, m.n)
                out.append(AuditResult(audit.id, where, start, end, audit.metric, m.value, m.n, low, high, m.value,
                                       m.n, None, "reference", f"{who}: {probe.label} {100 * m.value:.1f} % "
                                       f"(n={m.n:,}) in {period}, the reference for {audit.standard}"))  # fmt: skip
                continue
            ref, ref_n = reference
            fall = (ref - m.value) if better else (m.value - ref)
            p = one_sided_fall(ref, ref_n, m.value, m.n) if better else 1 - one_sided_fall(ref, ref_n, m.value, m.n)
            drift = 100 * fall >= audit.drift_points and p < audit.alpha
            was = f"{100 * ref:.1f} %" + (f" (n={ref_n:,})" if ref_n else " (the standard)")
            verb = "fell" if better else "rose"
            summary = (f"{who}'s {probe.label} {verb} from {was} to {100 * m.value:.1f} % (n={m.n:,}) since {since} "
                       f"({period}; one-sided p {p:.4f}; {audit.standard})" if drift else
                       f"{who}: {probe.label} {100 * m.value:.1f} % (n={m.n:,}) in {period} against {was}: the "
                       f"standard holds")  # fmt: skip
            out.append(AuditResult(audit.id, where, start, end, audit.metric, m.value, m.n, low, high, ref, ref_n, p,
                                   "drift" if drift else "holds", summary))  # fmt: skip
    return out


@dataclass(frozen=True)
class DriftState:
    """An audit scope's open drift: its breach id and since when (none: no open drift), and the last period
    judged. Read from these fields, never parsed from the table key."""

    audit: str
    scope: Mapping[str, str]
    last_period_ms: int | None = None
    open_id: str | None = None
    started_ms: int | None = None

    def to_json(self) -> dict[str, Json]:
        return {"audit": self.audit, "scope": dict(self.scope), "last_period_ms": self.last_period_ms,
                "open_id": self.open_id, "started_ms": self.started_ms}  # fmt: skip

    @classmethod
    def from_json(cls, data: object) -> DriftState:
        value = obj(data, "audit state")
        return cls(as_str(value.get("audit"), "audit"), {str(k): str(v) for k, v in obj(value.get("scope")).items()},
                   opt_int(value.get("last_period_ms")), opt_str(value.get("open_id")) or None,
                   opt_int(value.get("started_ms")))  # fmt: skip


def state_key(audit: str, scope: Mapping[str, str]) -> str:
    return f"{audit}|" + ",".join(f"{k}={v}" for k, v in sorted(scope.items()))


def latest(results: Sequence[AuditResult]) -> dict[str, AuditResult]:
    """The latest judged period of each audit scope."""
    out: dict[str, AuditResult] = {}
    for r in sorted(results, key=lambda r: r.period_start_ms):
        out[state_key(r.audit, r.scope)] = r
    return out


RULE_ID = "audit-drift"


def drift_breach(result: AuditResult, audit: Audit, status: Status, bid: str, started_ms: int, now_ms: int,
                 regions: Mapping[str, str], higher_is_better: bool) -> Breach:  # fmt: skip
    scope = {**dict(result.scope), "metric": result.metric}
    site = result.scope.get("site")
    if "region" not in scope and site is not None and site in regions:
        scope["region"] = regions[site]
    severity = Severity(audit.severity)
    labels = {"kind": BreachKind.AUDIT_DRIFT.value, "rule": RULE_ID, "owner": audit.owner, "severity": severity.value,
              "audit": audit.id, "standard": audit.standard, **scope}  # fmt: skip
    prefix = "Audit drift closed: " if status is Status.RESOLVED else "Audit drift: "
    return Breach(
        breach_id=bid, rule_id=RULE_ID, kind=BreachKind.AUDIT_DRIFT, status=status, severity=severity,
        metric=result.metric, scope=scope, labels=labels, n=result.n,
        direction=Direction.BELOW if higher_is_better else Direction.ABOVE,
        started_at=from_ms(started_ms), updated_at=from_ms(now_ms), summary=prefix + result.summary,
        window_start=from_ms(result.period_start_ms), window_end=from_ms(result.period_end_ms),
        value=None if result.value is None else round(result.value, 4),
        interval_low=None if result.low is None else round(result.low, 4),
        interval_high=None if result.high is None else round(result.high, 4), confidence=0.95,
        threshold=None if result.reference is None else round(result.reference, 4),
    )  # fmt: skip


def judge(
    audit: Audit,
    results: Sequence[AuditResult],
    states: Mapping[str, DriftState],
    regions: Mapping[str, str],
    now_ms: int,
    higher_is_better: bool,
) -> tuple[dict[str, DriftState], list[AuditResult], list[Breach]]:
    """The states after the periods not judged before, the results to publish, and the breaches: a drift fires
    (or updates an open one), a later period that holds resolves it."""
    new_states: dict[str, DriftState] = {}
    published: list[AuditResult] = []
    breaches: list[Breach] = []
    for result in sorted(results, key=lambda r: r.period_start_ms):
        key = state_key(result.audit, result.scope)
        held = new_states.get(key) or states.get(key) or DriftState(result.audit, dict(result.scope))
        if held.last_period_ms is not None and result.period_start_ms <= held.last_period_ms:
            continue
        published.append(result)
        if result.verdict == "drift":
            if held.open_id is None:
                bid = breach_id(RULE_ID, {**dict(result.scope), "audit": audit.id}, result.period_start_ms)
                held = DriftState(held.audit, held.scope, held.last_period_ms, bid, now_ms)
                status = Status.FIRING
            else:
                status = Status.UPDATED
            breaches.append(drift_breach(result, audit, status, held.open_id or "", held.started_ms or now_ms,
                                         now_ms, regions, higher_is_better))  # fmt: skip
        elif result.verdict == "holds" and held.open_id is not None:
            breaches.append(drift_breach(result, audit, Status.RESOLVED, held.open_id, held.started_ms or now_ms,
                                         now_ms, regions, higher_is_better))  # fmt: skip
            held = DriftState(held.audit, held.scope, held.last_period_ms)
        new_states[key] = DriftState(held.audit, held.scope, result.period_start_ms, held.open_id, held.started_ms)
    return new_states, published, breaches
