"""Threshold rules read the buckets that just ended, per scope, catch up after a pause, and produce
records that fit the Breach schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cxstream.app import load_context
from cxstream.domain.alerting.evaluation import assess, breach_record, rule_scopes, state_key
from cxstream.domain.alerting.thresholds import Severity, Status
from cxstream.domain.ingest.events import SurveyMetric
from cxstream.domain.metrics.cells import apply_update
from cxstream.domain.metrics.measure import updates_for
from cxstream.settings import Settings
from tests.unit.test_metrics import Table, cells_of, survey

CTX = load_context(Settings())
SPEC = CTX.topology.metrics
RULE = next(r for r in CTX.topology.alerting.thresholds if r.id == "csat.delivery.low")
NOW = datetime(2026, 11, 24, 10, 2, 30, tzinfo=UTC)
BREACH = CTX.codecs.for_topic("cx.breaches", "cxstream.Breach")


def table(scores_by_region: dict[str, list[int]], minutes_ago: float) -> Table:
    out: Table = {}
    offset = 0
    for region, scores in scores_by_region.items():
        site = {"emea": "ams-1", "amer": "chi-1", "apac": "sin-1"}[region]
        for score in scores:
            event = survey(SurveyMetric.CSAT, score, minutes_ago=minutes_ago, region=region, site=site)
            for update in updates_for(SPEC, event, 0):
                out[update.key] = apply_update(out.get(update.key), update, offset)
            offset += 1
    return out


def test_each_region_is_judged_on_its_own_and_the_buckets_since_are_caught_up() -> None:
    # EMEA: 20 % top-2-box over 200 answers, well below 55 % critical; AMER fine; both 20 minutes old: the
    # first evaluation reads every bucket the 5-minute cells still hold
    store = cells_of(table({"emea": [5] * 40 + [1] * 160, "amer": [5] * 180 + [2] * 20}, minutes_ago=20))
    assert rule_scopes(RULE, SPEC, store) == [{"region": "amer"}, {"region": "emea"}]
    states, verdicts = assess(RULE, SPEC, store, {}, NOW)
    assert [(v.change.status, v.change.severity, dict(v.change.scope)) for v in verdicts] == [
        (Status.FIRING, Severity.CRITICAL, {"region": "emea"})
    ]
    assert states[state_key(RULE, {"region": "emea"})].open_id == verdicts[0].change.breach_id
    again, nothing = assess(RULE, SPEC, store, {**states}, NOW)  # the same time: no new verdict
    assert nothing == [] and again == {}


def test_the_evidence_a_bucket_carries_decides_the_severity() -> None:
    # 40 % over 200 answers: far beyond the warning level's evidence, not yet enough that the truth is at
    # the critical 55 % rather than 60 % (the log-likelihood ratio is 7.2, the budget's threshold 8.5)
    store = cells_of(table({"emea": [5] * 80 + [1] * 120}, minutes_ago=20))
    _, [verdict] = assess(RULE, SPEC, store, {}, NOW)
    assert (verdict.change.status, verdict.change.severity) == (Status.FIRING, Severity.WARNING)
    assert "cusum: evidence of 70" in breach_record(verdict, RULE, "logistics", NOW).summary


def test_it_resolves_once_the_evidence_says_it_is_back() -> None:
    bad = table({"emea": [1] * 100}, minutes_ago=20)
    states, _ = assess(RULE, SPEC, cells_of(bad), {}, NOW)
    later = NOW + timedelta(hours=2)
    few = {**bad, **table({"emea": [5] * 60}, minutes_ago=20 - 120)}  # 60 satisfied answers: not yet enough
    _, verdicts = assess(RULE, SPEC, cells_of(few), states, later)
    assert verdicts == []
    more = {**bad, **table({"emea": [5] * 150}, minutes_ago=20 - 120)}
    _, verdicts = assess(RULE, SPEC, cells_of(more), states, later + timedelta(minutes=5))
    assert [v.change.status for v in verdicts] == [Status.RESOLVED]


def test_breach_records_fit_the_schema() -> None:
    store = cells_of(table({"emea": [1] * 100}, minutes_ago=20))
    _, [verdict] = assess(RULE, SPEC, store, {}, NOW)
    record = breach_record(verdict, RULE, "logistics", NOW)
    decoded = BREACH.decode(BREACH.encode(record.to_record()))
    assert decoded["labels"] == {"rule": RULE.id, "metric": "csat.delivery", "owner": "logistics",
                                 "severity": "CRITICAL", "region": "emea"}  # fmt: skip
    assert decoded["n"] == 100 and decoded["value"] == 0.0 and "critical level 55%" in decoded["summary"]


def test_a_breach_opened_by_the_window_method_carries_over_until_the_evidence_clears_it() -> None:
    from cxstream.domain.alerting.thresholds import BreachState

    key = state_key(RULE, {"region": "emea"})
    legacy = {key: BreachState(streak=2, open_id="br-0123", severity=Severity.WARNING, started_ms=1,
                               last_window_end_ms=1)}  # fmt: skip
    quiet = cells_of(table({"emea": [5] * 10}, minutes_ago=20))  # a few good answers: not enough to clear
    states, verdicts = assess(RULE, SPEC, quiet, legacy, NOW)
    assert verdicts == [] and states[key].open_id == "br-0123"
    good = cells_of(table({"emea": [5] * 200}, minutes_ago=20))
    _, verdicts = assess(RULE, SPEC, good, legacy, NOW)
    assert [(v.change.status, v.change.breach_id) for v in verdicts] == [(Status.RESOLVED, "br-0123")]


def test_each_round_says_what_the_rules_cost_at_the_volumes_seen() -> None:
    from cxstream.domain.alerting.cusum import arl0, information
    from cxstream.domain.alerting.evaluation import evaluate_thresholds

    # 82 answers in EMEA over the buckets read (the 5-minute cells' 7 hours, less two buckets of margin)
    read = SPEC.retention_ms(SPEC.finest_ms) // SPEC.finest_ms - 2
    store = cells_of(table({"emea": [5] * 82}, minutes_ago=20))
    round_ = evaluate_thresholds(CTX.topology.alerting, SPEC, store, {}, NOW)
    k = information(82 / read, 70, 75, 72.5 * 27.5)
    assert round_.expected_false_per_day["csat.delivery.low"] == pytest.approx(288 / arl0(RULE.h, k), rel=1e-9)
    assert set(round_.expected_false_per_day) == {r.id for r in CTX.topology.alerting.thresholds}
