"""Threshold rules read the windows that just ended, per scope, catch up after a pause, and produce
records that fit the Breach schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def test_each_region_is_judged_on_its_own_and_the_streak_is_caught_up() -> None:
    # EMEA: 40 % top-2-box over 200 answers, well below 55 % critical; AMER fine; both 20 minutes old,
    # so the last two ended 1-hour windows (the rule needs two in a row) both contain them
    store = cells_of(table({"emea": [5] * 80 + [1] * 120, "amer": [5] * 180 + [2] * 20}, minutes_ago=20))
    assert rule_scopes(RULE, SPEC, store) == [{"region": "amer"}, {"region": "emea"}]
    states, verdicts = assess(RULE, SPEC, store, {}, NOW)
    assert [(v.change.status, v.change.severity, dict(v.change.scope)) for v in verdicts] == [
        (Status.FIRING, Severity.CRITICAL, {"region": "emea"})
    ]
    assert states[state_key(RULE, {"region": "emea"})].open_id == verdicts[0].change.breach_id
    again, nothing = assess(RULE, SPEC, store, {**states}, NOW)  # the same windows: no new verdict
    assert nothing == [] and again == {}


def test_it_resolves_once_the_windows_recover() -> None:
    bad = cells_of(table({"emea": [1] * 100}, minutes_ago=20))
    states, _ = assess(RULE, SPEC, bad, {}, NOW)
    later = NOW + timedelta(hours=2)
    good = cells_of(table({"emea": [5] * 100}, minutes_ago=20 - 120))  # answers from the last half hour
    _, verdicts = assess(RULE, SPEC, good, states, later)
    assert [v.change.status for v in verdicts] == [Status.RESOLVED]


def test_breach_records_fit_the_schema() -> None:
    store = cells_of(table({"emea": [1] * 100}, minutes_ago=20))
    _, [verdict] = assess(RULE, SPEC, store, {}, NOW)
    record = breach_record(verdict, RULE, "logistics", NOW)
    decoded = BREACH.decode(BREACH.encode(record.to_record()))
    assert decoded["labels"] == {"rule": RULE.id, "metric": "csat.delivery", "owner": "logistics",
                                 "severity": "CRITICAL", "region": "emea"}  # fmt: skip
    assert decoded["n"] == 100 and decoded["value"] == 0.0 and "critical level 55%" in decoded["summary"]
