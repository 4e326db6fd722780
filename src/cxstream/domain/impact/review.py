"""A CX review pack for a regular operational performance review: for one scope and period, every measured metric
with its n and interval against the period before (and the target in force), its weekly trend and plateau
verdict; the changes rolled out there and their verdicts; the experiments that ran; the audits' periods; what
moved most. Built from the metric history and the topics' records, so a review of a past month is the same
whenever it is made. ``web.review_html`` renders it as one self-contained HTML file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.impact.audits import AuditResult, Audits, run_audit
from cxstream.domain.impact.experiments import Experiment
from cxstream.domain.impact.plateaus import Plateau, PlateauSpec, changes_from_backlog, plateau
from cxstream.domain.impact.targets import Target, TargetBook, target_id
from cxstream.domain.metrics.spec import DAY_MS, MetricsSpec
from cxstream.domain.metrics.stats import Sufficient, wilson
from cxstream.domain.remediation.items import Item
from cxstream.domain.remediation.verdict import measured

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
SPAN = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


def parse_period(text: str) -> tuple[int, int]:
    """``2026-11`` (a month) or ``2026-11-01..2026-11-30`` (both days included): [start, end) in ms."""
    if m := MONTH.match(text):
        first = date(int(m.group(1)), int(m.group(2)), 1)
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    elif m := SPAN.match(text):
        first, after = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2)) + timedelta(days=1)
    else:
        raise ValueError(f"period {text!r}: a month (2026-11) or days (2026-11-01..2026-11-30)")
    if after <= first:
        raise ValueError(f"period {text!r} ends before it starts")
    return _ms(first), _ms(after)


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True)
class Measure:
    value: float | None  # a share or NPS fraction
    n: int
    low: float | None
    high: float | None


@dataclass(frozen=True)
class MetricLine:
    metric: str
    label: str
    display: str
    now: Measure
    before: Measure  # the period of the same length before
    change: float | None  # points
    target: Target | None
    days: tuple[tuple[int, Measure], ...]  # each day of the period, for the chart
    plateau: Plateau | None
    higher_is_better: bool = True


@dataclass(frozen=True)
class ChangeLine:
    item_id: str
    title: str
    state: str
    rolled_out: tuple[int, ...]
    verdicts: tuple[str, ...]


@dataclass(frozen=True)
class ReviewPack:
    scope: Mapping[str, str]
    start_ms: int
    end_ms: int
    generated_ms: int
    metrics: tuple[MetricLine, ...]
    changes: tuple[ChangeLine, ...]
    experiments: tuple[Experiment, ...]
    audits: tuple[AuditResult, ...]

    @property
    def moved_most(self) -> tuple[MetricLine, ...]:
        """The metrics whose change is outside both periods' intervals' overlap, largest first."""
        moved = [m for m in self.metrics if m.change is not None and _apart(m.now, m.before)]
        return tuple(sorted(moved, key=lambda m: -abs(m.change or 0.0)))


def _apart(a: Measure, b: Measure) -> bool:
    if None in (a.low, a.high, b.low, b.high):
        return False
    return a.low > b.high or b.low > a.high  # type: ignore[operator]


def _measure(definition: object, stats: Sufficient, confidence: float) -> Measure:
    m = measured(definition, stats)  # type: ignore[arg-type]
    if m is None or m.value is None or not m.n:
        return Measure(None, m.n if m is not None else 0, None, None)
    if m.kind == "nps":
        p, d = m.hits / m.n, m.detractors / m.n
        half = 1.959964 * (max(p + d - (p - d) ** 2, 0.0) / m.n) ** 0.5
        return Measure(m.value, m.n, m.value - half, m.value + half)
    low, high = wilson(m.hits, m.n, confidence)
    return Measure(m.value, m.n, low, high)


def _stats(index: HistoryIndex, metric: str, where: Mapping[str, str], start: int, end: int) -> dict[int, Sufficient]:
    days: dict[int, Sufficient] = {}
    for fact in index.facts(metric, DAY_MS, start, end):
        if fact.within(where):
            days.setdefault(fact.key.start_ms, Sufficient()).merge(fact.stats)
    return days


def build_review(scope: Mapping[str, str], start_ms: int, end_ms: int, metrics: MetricsSpec, index: HistoryIndex, *,
                 items: Iterable[Item] = (), experiments: Iterable[Experiment] = (), audits: Audits | None = None,
                 targets: TargetBook | None = None, plateaus: PlateauSpec | None = None,
                 regions: Mapping[str, str] | None = None, now_ms: int) -> ReviewPack:  # fmt: skip
    length = end_ms - start_ms
    lines = []
    backlog = list(items)
    for definition in metrics.definitions:
        if measured(definition, Sufficient()) is None or any(k not in definition.dimensions for k in scope):
            continue
        if definition.bands:
            continue  # a part of a stage's answers, kept per band for the tolerance curves: not a reviewed metric
        now_days = _stats(index, definition.id, scope, start_ms, end_ms)
        before_days = _stats(index, definition.id, scope, start_ms - length, start_ms)
        now = _measure(definition, Sufficient.merged(now_days.values()), metrics.confidence)
        before = _measure(definition, Sufficient.merged(before_days.values()), metrics.confidence)
        if not now.n and not before.n:
            continue
        change = None if now.value is None or before.value is None else 100 * (now.value - before.value)
        days = tuple((d, _measure(definition, s, metrics.confidence)) for d, s in sorted(now_days.items()))
        flat = None
        if plateaus is not None:
            flat = plateau(index, metrics, definition.id, scope, end_ms, plateaus,
                           changes_from_backlog(backlog, definition.id, scope))  # fmt: skip
        target = targets.current(target_id(definition.id, scope), now_ms) if targets is not None else None
        probe = measured(definition, Sufficient())
        lines.append(MetricLine(definition.id, probe.label if probe else definition.id, definition.title, now, before,
                                change, target, days, flat, probe.higher_is_better if probe else True))  # fmt: skip
    changes = []
    for item in backlog:
        touched = tuple(r.at_ms for r in item.rollouts if start_ms - length <= r.at_ms < end_ms
                        and _overlaps(r.scope, scope, regions or {}))  # fmt: skip
        if touched:
            changes.append(ChangeLine(item.item_id, item.title, item.state.value, touched,
                                      tuple(f"{v.outcome}: {v.summary}" for v in item.verdicts)))  # fmt: skip
    ran = tuple(e for e in experiments if e.start_ms < end_ms and (e.end_ms is None or e.end_ms > start_ms))
    results: list[AuditResult] = []
    for audit in audits.audits if audits is not None else ():
        if not any(_overlaps(s, scope, regions or {}) for s in audit.scopes):
            continue
        found = run_audit(audit, metrics, index, min(now_ms - now_ms % DAY_MS, end_ms))
        results += [r for r in found if r.period_end_ms > start_ms and _overlaps(r.scope, scope, regions or {})]
    return ReviewPack(dict(scope), start_ms, end_ms, now_ms, tuple(lines), tuple(changes), ran, tuple(results))


def _overlaps(a: Mapping[str, str], b: Mapping[str, str], regions: Mapping[str, str]) -> bool:
    """Whether two scopes share ground: no value contradicts, and a site counts inside its region."""
    if any(a[k] != b[k] for k in set(a) & set(b)):
        return False
    for one, other in ((a, b), (b, a)):
        site = one.get("site")
        if site and "region" in other and "region" not in one:
            return regions.get(site) == other["region"]
    return True


def period_text(start_ms: int, end_ms: int) -> str:
    first = datetime.fromtimestamp(start_ms / 1000, UTC).date()
    last = datetime.fromtimestamp((end_ms - DAY_MS) / 1000, UTC).date()
    return f"{first} to {last}"
