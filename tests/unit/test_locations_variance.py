"""Variance across locations from closed days: a site planted worse is an execution gap, a big site at the mean
with a little more spread is not, and the noise budget counts the comparisons."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cxstream.config.topology import load_topology
from cxstream.domain.history.facts import FactKey, HistoryFact
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.locations.spec import Location, Locations, VarianceSpec
from cxstream.domain.locations.variance import noise_budget, review_day, rule_false_alarm_rate
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.metrics.stats import Sufficient
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[2]
METRICS = load_topology(ROOT / "topologies", SchemaCatalog.from_dir(ROOT / "schemas").names()).metrics
DAY = 500 * DAY_MS


def csat(rng: random.Random, n: int, p: float) -> Sufficient:
    stats = Sufficient()
    for _ in range(n):
        stats.add_score(5 if rng.random() < p else 2)
    return stats


def history(sites: dict[str, tuple[int, float, float]], days: int = 28, seed: int = 4,
            planted: dict[str, float] | None = None) -> HistoryIndex:  # fmt: skip
    """Daily delivery CSAT per site: (answers a day, true share, day-to-day spread of the share); ``planted``:
    a share on the last day only."""
    rng = random.Random(seed)
    definition = METRICS.definition("csat.delivery")
    index = HistoryIndex()
    for d in range(days):
        start = DAY - (days - 1 - d) * DAY_MS
        for site, (n, p, spread) in sites.items():
            share = (planted or {}).get(site, p) if d == days - 1 else p
            day_p = min(0.99, max(0.01, rng.gauss(share, spread)))
            scope = tuple(
                site if dim == "site" else "emea" if dim == "region" else "-" for dim in definition.dimensions
            )
            fact = HistoryFact(FactKey("csat.delivery", DAY_MS, start, "p0", scope), definition.dimensions,
                               csat(rng, n, day_p))  # fmt: skip
            index.apply(fact.key.encode(), fact)
    return index


def spec_for(sites: list[str], rules: list[int] | None = None) -> Locations:
    return Locations(
        sites=[Location(site=s, type="fulfilment", owner="logistics") for s in sites],  # type: ignore[arg-type]
        variance=VarianceSpec(metrics=["csat.delivery"], rules=rules or [1, 2]),
    )


def test_the_planted_site_is_a_gap_and_the_big_noisy_site_is_not() -> None:
    sites = {f"s{i:02d}": (200, 0.82, 0.02) for i in range(24)}
    sites["small"] = (120, 0.82, 0.02)
    sites["big"] = (4000, 0.82, 0.03)  # at the mean, with more day-to-day spread than its n explains
    index = history(sites, planted={"small": 0.45})
    review = review_day(METRICS, index, spec_for(list(sites)), DAY, {"small": "Small site"})
    flagged = {g.site for g in review.gaps}
    assert "small" in flagged and "big" not in flagged, review.gaps
    gap = next(g for g in review.gaps if g.site == "small")
    assert gap.limit is not None and gap.value < gap.limit and gap.n == 120
    assert gap.summary.startswith("Small site: Delivery CSAT (CSAT) ") and "n=120" in gap.summary
    assert "below the 99.8% funnel limit" in gap.summary and "over-dispersion tau" in gap.summary  # tau > 0 here
    [mf] = review.funnels
    assert mf.funnel is not None and mf.funnel.overdispersed
    assert review.comparisons == 26
    assert review.expected_noise == pytest.approx(26 * (0.001 + rule_false_alarm_rate((1, 2))))


def test_a_sustained_slide_fires_rule_2_without_leaving_the_funnel() -> None:
    """Nine days in a row a little under the site's own centre: rule 2 names it before any single day is an
    outlier across sites."""
    sites = {f"s{i:02d}": (300, 0.82, 0.02) for i in range(12)}
    index = history(sites, days=28, seed=9)
    definition = METRICS.definition("csat.delivery")
    rng = random.Random(3)
    for d in range(9):  # the last nine days of s00 replaced by a slightly worse share
        start = DAY - (8 - d) * DAY_MS
        scope = tuple("s00" if dim == "site" else "emea" if dim == "region" else "-" for dim in definition.dimensions)
        fact = HistoryFact(FactKey("csat.delivery", DAY_MS, start, "p0", scope), definition.dimensions,
                           csat(rng, 300, 0.74), version=1)  # fmt: skip
        index.apply(fact.key.encode(), fact)
    review = review_day(METRICS, index, spec_for(list(sites)), DAY, {})
    [gap] = [g for g in review.gaps if g.site == "s00"]
    assert 2 in gap.rules and "rule 2 (nine points in a row on one side of the centre)" in gap.summary


def test_no_difference_raises_about_the_budgeted_noise() -> None:
    sites = {f"s{i:02d}": (250, 0.8, 0.0) for i in range(40)}
    total_gaps = total_budget = 0.0
    for seed in range(12):
        review = review_day(METRICS, history(sites, seed=seed), spec_for(list(sites)), DAY, {})
        total_gaps += len(review.gaps)
        total_budget += review.expected_noise
    assert total_budget == pytest.approx(12 * noise_budget(40, spec_for(list(sites))))
    assert total_gaps <= total_budget * 3 + 3  # about 2 expected over 480 site-days


def test_a_gap_fires_once_updates_and_resolves_when_the_day_is_back_inside() -> None:
    from cxstream.domain.alerting.records import BreachKind, Status
    from cxstream.domain.locations.gaps import judge_day

    sites = {f"s{i:02d}": (200, 0.82, 0.02) for i in range(20)}
    spec = spec_for(list(sites))
    regions = dict.fromkeys(sites, "emea")
    bad = review_day(METRICS, history(sites, planted={"s03": 0.5}), spec, DAY, {})
    states, fired = judge_day(bad, {}, spec, regions, 1000)
    [breach] = [b for b in fired if b.scope["site"] == "s03"]
    assert (breach.kind, breach.status, breach.labels["owner"]) == (BreachKind.EXECUTION_GAP, Status.FIRING,
                                                                    "logistics")  # fmt: skip
    assert breach.scope == {"site": "s03", "metric": "csat.delivery", "region": "emea"} and breach.n == 200
    again, updated = judge_day(bad, states, spec, regions, 2000)
    assert [b.status for b in updated if b.scope["site"] == "s03"] == [Status.UPDATED]
    assert again["csat.delivery|s03"].open_id == breach.breach_id
    fine = review_day(METRICS, history(sites, seed=8), spec, DAY, {})  # the next review: s03 back in line
    closed, resolved = judge_day(fine, again, spec, regions, 3000)
    assert [b.status for b in resolved if b.scope["site"] == "s03"] == [Status.RESOLVED]
    assert closed["csat.delivery|s03"].open_id is None
    [back] = [b for b in resolved if b.scope["site"] == "s03"]
    assert "back within the limits" in back.summary and back.n == 200
