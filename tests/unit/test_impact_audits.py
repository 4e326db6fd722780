"""Audits: each closed period against the reference (the first period, or the standard's level); a fall that is
material and significant is a drift, a breach routed to the owner that a period back within the standard
resolves; a period with too few answers is not judged; each period is judged once."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from cxstream.config.topology import load_topology
from cxstream.domain.alerting.records import BreachKind, Status
from cxstream.domain.history.facts import FactKey, HistoryFact
from cxstream.domain.history.index import HistoryIndex
from cxstream.domain.impact.audits import Audit, judge, one_sided_fall, run_audit
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.domain.metrics.stats import Sufficient
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = load_topology(ROOT / "topologies", SchemaCatalog.from_dir(ROOT / "schemas").names())
METRICS = TOPOLOGY.metrics
START = date(2026, 3, 2)


def history(shares: list[float], per_day: int = 60, site: str = "ams-1") -> HistoryIndex:
    """Daily delivery CSAT at one site: ``shares`` per 28-day period."""
    rng = random.Random(2)
    definition = METRICS.definition("csat.delivery")
    index = HistoryIndex()
    start = Audit.model_validate(audit_spec()).start_ms
    for k, share in enumerate(shares):
        for d in range(28):
            stats = Sufficient()
            for _ in range(per_day):
                stats.add_score(5 if rng.random() < share else 2)
            scope = tuple(
                site if dim == "site" else "emea" if dim == "region" else "-" for dim in definition.dimensions
            )
            day = start + (28 * k + d) * DAY_MS
            fact = HistoryFact(FactKey("csat.delivery", DAY_MS, day, "p0", scope), definition.dimensions, stats)
            index.apply(fact.key.encode(), fact)
    return index


def audit_spec(**changes: object) -> dict[str, object]:
    return {"id": "delivery-standard", "standard": "Late-delivery handling v2", "owner": "logistics",
            "metric": "csat.delivery", "scopes": [{"site": "ams-1"}], "starts": START, "cadence": "28d",
            "duration": "365d", **changes}  # fmt: skip


def through(periods: int) -> int:
    return Audit.model_validate(audit_spec()).start_ms + 28 * periods * DAY_MS


def test_a_drift_fires_and_a_recovery_resolves_it() -> None:
    audit = Audit.model_validate(audit_spec())
    index = history([0.90, 0.89, 0.72, 0.90])
    results = run_audit(audit, METRICS, index, through(4), {"ams-1": "Amsterdam fulfilment centre"})
    assert [r.verdict for r in results] == ["reference", "holds", "drift", "holds"]
    drift = results[2]
    assert drift.summary.startswith("Amsterdam fulfilment centre's CSAT fell from 89.8 % (n=1,680) to 71.8 %")
    assert "since 2026-03-02" in drift.summary and "Late-delivery handling v2" in drift.summary
    assert drift.p is not None and drift.p < 0.001 and drift.n == 28 * 60
    states, published, breaches = judge(audit, results[:3], {}, {"ams-1": "emea"}, through(3), True)
    assert [r.verdict for r in published] == ["reference", "holds", "drift"]
    [fired] = breaches
    assert fired.kind is BreachKind.AUDIT_DRIFT and fired.status is Status.FIRING
    assert fired.labels["owner"] == "logistics" and fired.scope == {"site": "ams-1", "metric": "csat.delivery",
                                                                     "region": "emea"}  # fmt: skip
    again, republished, none = judge(audit, results[:3], states, {"ams-1": "emea"}, through(3), True)
    assert not republished and not none  # each period is judged once
    assert again == {}  # nothing changed: the table keeps what it holds
    _, _, closing = judge(audit, results, states, {"ams-1": "emea"}, through(4), True)
    [resolved] = closing
    assert resolved.status is Status.RESOLVED and resolved.breach_id == fired.breach_id


def test_a_small_fall_or_a_noisy_one_is_no_drift() -> None:
    audit = Audit.model_validate(audit_spec())
    small = run_audit(audit, METRICS, history([0.90, 0.87]), through(2))
    assert small[1].verdict == "holds"  # 3 points: under drift_points even if significant
    noisy = run_audit(audit, METRICS, history([0.90, 0.80], per_day=1), through(2))
    assert [r.verdict for r in noisy] == ["insufficient", "insufficient"]  # 28 answers, fewer than min_n 30


def test_a_declared_level_is_the_reference_from_the_first_period() -> None:
    audit = Audit.model_validate(audit_spec(level=0.85))
    results = run_audit(audit, METRICS, history([0.72, 0.86]), through(2))
    assert [r.verdict for r in results] == ["drift", "holds"] and results[0].reference_n == 0
    assert "from 85.0 % (the standard)" in results[0].summary


def test_the_one_sided_test_against_an_independent_computation() -> None:
    from statsmodels.stats.proportion import proportions_ztest

    # 850 of 1000 before, 720 of 1000 now; H1: now is smaller than before (the pooled z-test, one-sided)
    _, p = proportions_ztest([720, 850], [1000, 1000], alternative="smaller")
    assert abs(one_sided_fall(0.85, 1000, 0.72, 1000) - p) < 1e-12


def test_the_periods_stop_with_the_duration() -> None:
    audit = Audit.model_validate(audit_spec(duration="84d"))
    assert len(audit.periods(through(10))) == 3
    assert audit.periods(through(1) - 1) == []
    assert START + timedelta(days=28) == date(2026, 3, 30)
