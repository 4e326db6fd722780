"""What the war-room page shows, as one JSON snapshot for one token:

* a tile per region and survey metric: value with n and interval, status against the metric's levels for that
  region, and a trend chart of the last windows on an axis shared by every region of that metric, with the
  warning and critical levels drawn and the interval as a band;
* what needs action, most important first: systemic breaches (threshold rules) by severity, then oldest first,
  each with its number against its level and how long it has been open; hot alerts (single customers)
  grouped by rule and region with a count and the newest example; open cases with what they are about;
* the top drivers among detractors as bars, and the open breaches by rule and region as a count chart.

Names are the ones people read (:class:`Words`, declared in the topology). ``screen`` sizes the charts' text
for a wall (read from three metres) or a desk. The page renders it; ``/api/stream`` sends a new one whenever
it changes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cxstream.domain.access.principal import OutOfScope, Principal, masked
from cxstream.domain.alerting.records import BreachKind, Direction
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.alerting.spec import Alerting
from cxstream.domain.alerting.state import OpenBreach
from cxstream.domain.alerting.thresholds import ThresholdRule
from cxstream.domain.base import to_ms
from cxstream.domain.cases.machine import Case
from cxstream.domain.metrics.cells import Cell
from cxstream.domain.metrics.spec import SURVEY_INDICATORS, MetricDefinition, MetricsSpec
from cxstream.domain.metrics.windows import history, read_window
from cxstream.web import charts
from cxstream.web.estimates import estimate_json
from cxstream.web.reads import breach_in_scope, case_in_scope, case_row

SPARK_POINTS = 12
HOT_GROUPS_SHOWN = 6


class Screen(StrEnum):
    DESK = "desk"
    WALL = "wall"


@dataclass(frozen=True)
class ChartSize:
    """Text size and width of a chart in its own units: shown at ``width`` pixels, its text is ``font`` px."""

    font: int
    width: int
    bars: int = 6  # driver bars shown


#: Per screen, the region tiles' trends and the side column's charts. On a wall at 1920x1080 a region's chart is
#: about 360 px wide and the side column about 560 px: text of 26 and 25 px (24 px reads from three metres).
CHART_SIZE = {
    Screen.DESK: {"trend": ChartSize(20, 420), "side": ChartSize(16, 520)},
    Screen.WALL: {"trend": ChartSize(26, 360), "side": ChartSize(25, 560, bars=4)},
}
TREND_ASPECT = 0.42  # height / width of a tile's trend


@dataclass(frozen=True)
class Words:
    """The names people read, from the topology: metrics, windows, teams, drivers and regions."""

    metrics: Mapping[str, str]
    units: Mapping[str, str]
    scales: Mapping[str, str]
    windows: Mapping[str, str]
    teams: Mapping[str, str]
    drivers: Mapping[str, str]

    @classmethod
    def of(cls, spec: MetricsSpec, teams: Mapping[str, str], drivers: Mapping[str, str]) -> Words:
        return cls(
            metrics={d.id: d.title for d in spec.definitions},
            units={d.id: d.unit_name for d in spec.definitions},
            scales={d.id: d.scale_text for d in spec.definitions},
            windows={w.id: w.title for w in spec.windows},
            teams=dict(teams),
            drivers=dict(drivers),
        )

    def metric(self, definition: str | None) -> str:
        return self.metrics.get(definition or "", definition or "")

    def team(self, team: str | None) -> str:
        return self.teams.get(team or "", team or "")

    def driver(self, driver: str) -> str:
        return self.drivers.get(driver) or driver.replace("_", " ").capitalize()


def tile_status(rule: ThresholdRule | None, region: str, value: float | None, insufficient: bool) -> str:
    """critical / warning / ok against the rule's levels for the region; ``insufficient`` below the minimum n."""
    if value is None or insufficient:
        return "insufficient"
    if rule is None:
        return "ok"
    levels = rule.levels_for({"region": region})

    def worse(level: float | None) -> bool:
        if level is None:
            return False
        return value < level if rule.direction is Direction.BELOW else value > level

    if worse(levels.critical):
        return "critical"
    return "warning" if worse(levels.warning) else "ok"


def tile_definitions(spec: MetricsSpec) -> list[MetricDefinition]:
    """The survey metrics kept by region: a tile each per region. Those kept per band of an operational value
    (the customer-tolerance curves' data, a part of a stage's answers) are not headline numbers: no tile."""
    return [d for d in spec.definitions
            if d.indicator in SURVEY_INDICATORS and "region" in d.dimensions and not d.bands]  # fmt: skip


def _levels(rule: ThresholdRule | None, region: str, unit: str) -> list[charts.Level]:
    if rule is None:
        return []
    levels = rule.levels_for({"region": region})
    out = []
    for kind, value in (("warning", levels.warning), ("critical", levels.critical)):
        if value is not None:
            out.append(charts.Level(f"{kind} {charts.format_value(value, unit)}", value, kind))
    return out


def _systemic_first(breach: OpenBreach) -> tuple[int, int, int, str]:
    """Threshold breaches above hot alerts, then by severity, then the oldest first."""
    started = breach.facts.started_ms if breach.facts else 0
    return (int(breach.kind is BreachKind.HOT_ALERT), -breach.severity.rank, started, breach.breach_id)


def breach_row(breach: OpenBreach, principal: Principal, words: Words, now_ms: int) -> dict[str, Any]:
    """An open breach as the page lists it, masked for the principal, in the words people read."""
    row = masked(breach.to_json(), principal)
    facts = breach.facts
    unit = words.units.get(facts.metric, "") if facts else ""
    row.update(
        metric_display=words.metric(facts.metric if facts else None),
        team_name=words.team(breach.team),
        open_ms=max(0, now_ms - facts.started_ms) if facts else None,
        unit=unit,
    )
    if facts is not None and facts.value is not None:
        against = f" against {charts.format_value(facts.threshold, unit)}" if facts.threshold is not None else ""
        interval = (f", interval {charts.format_value(facts.low, unit)} to {charts.format_value(facts.high, unit)}"
                    if facts.low is not None and facts.high is not None else "")  # fmt: skip
        row["reading"] = f"{charts.format_value(facts.value, unit)} (n={facts.n}{interval}){against}"
    return row


def hot_alert_groups(breaches: list[OpenBreach], principal: Principal, words: Words) -> list[dict[str, Any]]:
    """Open hot alerts by rule and region: how many, the worst severity, and the newest one (masked)."""
    groups: dict[tuple[str, str], list[OpenBreach]] = {}
    for breach in breaches:
        if breach.kind is BreachKind.HOT_ALERT:
            groups.setdefault((breach.rule or "", breach.region or ""), []).append(breach)
    out = []
    for (rule, region), members in groups.items():
        newest = max(members, key=lambda b: (b.facts.started_ms if b.facts else 0, b.breach_id))
        worst = max(members, key=lambda b: b.severity.rank).severity
        out.append({
            "rule": rule, "region": region, "count": len(members), "severity": worst.value,
            "team_name": words.team(newest.team), "newest": masked(newest.to_json(), principal),
            "newest_ms": newest.facts.started_ms if newest.facts else None,
        })  # fmt: skip
    return sorted(out, key=lambda g: (-Severity(g["severity"]).rank, -g["count"], g["rule"], g["region"]))


def case_subject(case: Case, row: Mapping[str, Any], words: Words) -> str:
    """What a case is about: the metric and scope of its breach, or the (masked) customer of a hot alert."""
    labels = row.get("labels") or {}
    rule = labels.get("rule") or case.labels.get("rule") or ""
    region = (labels.get("region") or "").upper()
    if case.labels.get("kind") == BreachKind.HOT_ALERT.value:
        customer = labels.get("customer_id")
        return f"{rule} · customer {customer} · {region}" if customer else f"{rule} · {region}"
    metric = words.metric(case.labels.get("metric")) or rule
    scope = " · ".join(v for k, v in sorted(labels.items()) if k in ("site", "team", "channel") and v)
    return " · ".join(p for p in (metric, region, scope) if p)


def snapshot(
    spec: MetricsSpec, alerting: Alerting, regions: tuple[str, ...], cells: list[Cell], breaches: list[OpenBreach],
    cases: list[Case], principal: Principal, now: datetime, coverage: dict[str, Any], words: Words | None = None,
    screen: Screen = Screen.DESK,
) -> dict[str, Any]:  # fmt: skip
    """``breaches`` and ``cases`` are the open ones; only those in the principal's scope are shown, masked for
    it. ``coverage`` says what the data covers (partitions held of all, workers answered of asked) and is shown
    with it."""
    words = words or Words.of(spec, {}, {})
    trend_size, side_size = CHART_SIZE[screen]["trend"], CHART_SIZE[screen]["side"]
    rules = {r.metric: r for r in alerting.thresholds}
    shown = [r for r in regions if principal.in_scope(r, None)]
    surveys = tile_definitions(spec)
    now_ms = to_ms(now)
    breaches = sorted((b for b in breaches if breach_in_scope(principal, b)), key=_systemic_first)
    tiles: list[dict[str, Any]] = []  # JSON rows: Any values
    series: dict[str, list[tuple[str, dict[str, Any], charts.Series, list[charts.Level]]]] = {}
    drivers, critical = Counter[str](), set[str | None]()
    for region in shown:
        for definition in surveys:
            rule = rules.get(definition.id)
            window = rule.window if rule is not None else spec.windows[0].id
            try:
                where = principal.narrow({"region": region}, definition.dimensions)
            except OutOfScope:
                continue  # the same rule as GET /api/metrics: a tile the token may not read is not shown
            value = read_window(spec, cells, definition.id, window, now=now, where=where)
            past = history(spec, cells, definition.id, window, now=now, count=SPARK_POINTS, where=where)
            estimate = value.estimate
            drivers.update(dict(value.top_drivers))
            status = tile_status(rule, region, estimate.value if estimate else None,
                                 estimate is None or estimate.insufficient)  # fmt: skip
            if status == "critical":
                critical.add(region)
            unit = definition.unit_name
            points = tuple(
                charts.Point(to_ms(v.end), None if v.estimate.insufficient else v.estimate.value,
                             v.estimate.low, v.estimate.high, v.estimate.n)
                for v in reversed(past)
            )  # fmt: skip
            levels = _levels(rule, region, unit)
            tile = {
                "region": region, "definition": definition.id, "indicator": definition.indicator.value,
                "display": definition.title, "unit": unit, "scale": definition.scale_text,
                "team": definition.owner, "team_name": words.team(definition.owner), "window": window,
                "window_display": words.windows.get(window, window), "estimate": estimate_json(estimate),
                "status": status, "levels": {lv.kind: lv.value for lv in levels},
                "spark": [p.value for p in points],
                "top_drivers": [{"driver": d, "name": words.driver(d), "count": c} for d, c in value.top_drivers],
            }  # fmt: skip
            tiles.append(tile)
            series.setdefault(definition.id, []).append((region, tile, charts.Series(region.upper(), points), levels))
    for definition_id, members in series.items():  # one axis per metric, shared by every region
        definition = spec.definition(definition_id)
        floor, ceiling = (0.0, 100.0) if definition.unit_name == "%" else (None, None)
        domain = charts.domain_of([s for _, _, s, _ in members], [lv for *_, lvs in members for lv in lvs],
                                  floor, ceiling)  # fmt: skip
        for region, tile, line, levels in members:
            title = f"{definition.title} · {tile['window_display']} · {region.upper()}"
            tile["chart"] = charts.trend(title, definition.unit_name, [line], levels, domain=domain,
                                         width=trend_size.width, height=int(trend_size.width * TREND_ASPECT),
                                         font=trend_size.font)  # fmt: skip
    red = {b.region for b in breaches if b.kind is not BreachKind.HOT_ALERT and b.severity is Severity.CRITICAL}
    red |= critical
    open_cases = sorted((c for c in cases if case_in_scope(principal, c)),
                        key=lambda c: c.acknowledge_due_ms or c.resolve_due_ms or 0)  # fmt: skip
    case_rows = []
    for case in open_cases:
        row = masked(case_row(case), principal)
        row.update(subject=case_subject(case, row, words), team_name=words.team(case.team))
        case_rows.append(row)
    total_mentions = sum(drivers.values())
    top = drivers.most_common(8)
    by_rule: dict[str, Counter[str]] = {}
    for breach in breaches:
        label = f"{words.metric(breach.facts.metric) if breach.facts else breach.rule or ''} · " \
                f"{(breach.region or 'all').upper()}"  # fmt: skip
        if breach.kind is BreachKind.HOT_ALERT:
            label = f"{breach.rule} · {(breach.region or 'all').upper()}"
        by_rule.setdefault(label, Counter())[breach.severity.value] += 1
    severities = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]
    return {
        "at": now.isoformat(),
        "screen": screen.value,
        "principal": principal.describe(),
        "regions": [{"region": r, "status": "critical" if r in red else "ok"} for r in shown],
        "tiles": tiles,
        "breaches": [breach_row(b, principal, words, now_ms) for b in breaches],
        "hot_alert_groups": hot_alert_groups(breaches, principal, words),
        "cases": case_rows,
        "top_drivers": [{"driver": d, "name": words.driver(d), "count": c} for d, c in top],
        "charts": {
            "drivers": charts.bars(
                "Top drivers among detractors (share of mentions)",
                [charts.Bar(words.driver(d), c, total_mentions) for d, c in top],
                width=side_size.width,
                font=side_size.font,
                top_n=side_size.bars,
            ),
            "breaches": charts.counts(
                "Open breaches by rule and region",
                sorted((k, dict(v)) for k, v in by_rule.items()),
                severities,
                width=side_size.width,
                font=side_size.font,
            ),
        },
        "coverage": coverage,
    }
