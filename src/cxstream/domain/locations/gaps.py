"""Execution gaps as breaches: a location's gap on a reviewed day fires a breach (kind ``EXECUTION_GAP``) routed to
the location's owner like any other, with the evidence in its summary; the next reviewed day without the gap
resolves it. One state per metric and location is kept between reviews."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cxstream.domain.alerting.records import Breach, BreachKind, Direction, Status
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.alerting.thresholds import breach_id
from cxstream.domain.base import Json, as_str, from_ms, obj, opt_int, opt_str
from cxstream.domain.locations.spec import Locations
from cxstream.domain.locations.variance import DayReview, Gap
from cxstream.domain.metrics.spec import DAY_MS

RULE_ID = "execution-gap"


@dataclass(frozen=True)
class SiteGapState:
    """A gap of one metric at one location: its breach id and since when (no id: closed). The table key only
    finds it; what it is about is read from these fields, never parsed back out of the key."""

    metric: str
    site: str
    open_id: str | None = None
    started_ms: int | None = None

    def to_json(self) -> dict[str, Json]:
        return {"metric": self.metric, "site": self.site, "open_id": self.open_id, "started_ms": self.started_ms}

    @classmethod
    def from_json(cls, data: object) -> SiteGapState:
        value = obj(data, "execution gap state")
        return cls(as_str(value.get("metric"), "metric"), as_str(value.get("site"), "site"),
                   opt_str(value.get("open_id")) or None, opt_int(value.get("started_ms")))  # fmt: skip


def state_key(metric: str, site: str) -> str:
    return f"{metric}|{site}"


def scope_of(site: str, metric: str, regions: Mapping[str, str]) -> dict[str, str]:
    return {"site": site, "metric": metric, **({"region": regions[site]} if site in regions else {})}


def gap_breach(gap: Gap, spec: Locations, regions: Mapping[str, str], status: Status, bid: str, started_ms: int,
               now_ms: int, higher_is_better: bool) -> Breach:  # fmt: skip
    location = spec.location(gap.site)
    owner = location.owner if location is not None else "cx-operations"
    scope = scope_of(gap.site, gap.metric, regions)
    severity = Severity(spec.variance.severity)
    labels = {"kind": BreachKind.EXECUTION_GAP.value, "rule": RULE_ID, "owner": owner, "severity": severity.value,
              "site_type": location.type.value if location is not None else "-",
              **({"partner": location.partner} if location is not None and location.partner else {}),
              **({"rules": ",".join(str(r) for r in gap.rules)} if gap.rules else {}), **scope}  # fmt: skip
    summary = ("Execution gap closed: " if status is Status.RESOLVED else "Execution gap: ") + gap.summary
    return Breach(
        breach_id=bid, rule_id=RULE_ID, kind=BreachKind.EXECUTION_GAP, status=status, severity=severity,
        metric=gap.metric, scope=scope, labels=labels, n=gap.n,
        direction=Direction.BELOW if higher_is_better else Direction.ABOVE,
        started_at=from_ms(started_ms), updated_at=from_ms(now_ms), summary=summary,
        window_start=from_ms(gap.day_ms), window_end=from_ms(gap.day_ms + DAY_MS), value=round(gap.value, 4),
        interval_low=round(gap.low, 4), interval_high=round(gap.high, 4), confidence=0.95,
        threshold=None if gap.limit is None else round(gap.limit, 4),
    )  # fmt: skip


def judge_day(review: DayReview, states: Mapping[str, SiteGapState], spec: Locations, regions: Mapping[str, str],
              now_ms: int) -> tuple[dict[str, SiteGapState], list[Breach]]:  # fmt: skip
    """The states after a reviewed day and the breaches to publish: a new gap fires, a gap still there is
    updated with the day's evidence, an open gap the day does not show resolves."""
    better = {f.metric: f.higher_is_better for f in review.funnels}
    found = {state_key(g.metric, g.site): g for g in review.gaps}
    new_states: dict[str, SiteGapState] = {}
    breaches: list[Breach] = []
    for key, gap in found.items():
        held = states.get(key) or SiteGapState(gap.metric, gap.site)
        if held.open_id is None:
            bid = breach_id(RULE_ID, scope_of(gap.site, gap.metric, regions), review.day_ms)
            new_states[key] = SiteGapState(gap.metric, gap.site, bid, now_ms)
            breaches.append(gap_breach(gap, spec, regions, Status.FIRING, bid, now_ms, now_ms, better[gap.metric]))
        else:
            new_states[key] = held
            breaches.append(gap_breach(gap, spec, regions, Status.UPDATED, held.open_id, held.started_ms or now_ms,
                                       now_ms, better[gap.metric]))  # fmt: skip
    for key, held in states.items():
        if key in found or held.open_id is None:
            continue
        metric, site = held.metric, held.site
        closing = closed_gap(review, metric, site)
        if closing is not None:
            breaches.append(gap_breach(closing, spec, regions, Status.RESOLVED, held.open_id,
                                       held.started_ms or now_ms, now_ms, better.get(metric, True)))  # fmt: skip
        new_states[key] = SiteGapState(metric, site)
    return new_states, breaches


def closed_gap(review: DayReview, metric: str, site: str) -> Gap | None:
    """The day's evidence for a location whose gap closed (its value against the funnel), to resolve with."""
    funnel = next((f for f in review.funnels if f.metric == metric), None)
    row = next((r for r in funnel.sites if r.site == site), None) if funnel is not None else None
    if funnel is None or row is None or row.value is None or row.low is None or row.high is None:
        return Gap(site, metric, review.day_ms, 0.0, row.n if row is not None else 0, 0.0, 0.0, 0.0, None, (), 0.0, 0,
                   f"{site}: no longer a gap (too few answers on the day to compare)")  # fmt: skip
    target = funnel.funnel.target if funnel.funnel is not None else 0.0
    return Gap(site, metric, review.day_ms, row.value, row.n, row.low, row.high, target, None, (), 0.0,
               len(funnel.funnel.points) if funnel.funnel is not None else 0,
               f"{site}: {funnel.label} {100 * row.value:.1f} (n={row.n}) back within the limits")  # fmt: skip


def day_to_review(now_ms: int, grace_ms: int) -> int:
    """The last day whose live figures are final: the day before the one ``now - grace`` falls in."""
    return ((now_ms - grace_ms) // DAY_MS - 1) * DAY_MS
