"""Hot-alert rules on single events: each condition, the shipped rules on realistic events (enriched as
normalization does), ids that repeat for the same event, stale back-fills, and records that fit the schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.app import load_context
from cxstream.domain.alerting.hot_alerts import Conditions, HotAlertRule, detect, hot_breach_record, matches
from cxstream.domain.alerting.records import Status
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation, SurveyMetric
from cxstream.settings import Settings
from tests.unit.test_metrics import NOW, survey

CTX = load_context(Settings())
RULES = CTX.topology.alerting.hot_alerts
BREACHES = CTX.codecs.for_topic("cx.breaches", "cxstream.Breach")


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def enriched(event: CanonicalEvent) -> CanonicalEvent:
    return CTX.enricher(event)


def nps(score: int, verbatim: str | None = None, **kw: Any) -> CanonicalEvent:
    event = survey(SurveyMetric.NPS, score, stage="relationship", touchpoint=None, **kw)
    if verbatim is not None:
        event = event.model_copy(update={"survey": event.survey.model_copy(update={"verbatim": verbatim})})  # type: ignore[union-attr]
    return enriched(event)


def delivered(late: timedelta, **kw: Any) -> CanonicalEvent:
    promised = NOW - timedelta(hours=1) - late
    return CanonicalEvent.model_validate(
        {
            "event_id": "d1", "event_type": EventType.ORDER_DELIVERED, "event_time": NOW - timedelta(hours=1),
            "ingest_time": NOW - timedelta(minutes=59), "source": "erp", "source_record_id": "80001",
            "region": "emea", "site": "ams-1", "team": "logistics",
            "operation": Operation(delivery_id="80001", promised_at=promised, actual_at=NOW - timedelta(hours=1)),
            **kw,
        }
    )  # fmt: skip


def fired(event: CanonicalEvent, now: datetime = NOW) -> list[str]:
    return [a.rule_id for a in detect(RULES, event, now)[0]]


def test_a_detractor_who_threatens_to_cancel_is_a_hot_alert_and_a_happy_one_is_not() -> None:
    assert fired(nps(2, "Third late delivery this month, I am cancelling my account.")) == ["detractor.critical-driver"]
    assert fired(nps(9, "I would never cancel, great service")) == []  # a promoter, whatever the words
    assert fired(nps(3, "The parcel was late again.")) == []  # a detractor, but no critical driver
    dutch = survey(SurveyMetric.NPS, 4, stage="relationship", touchpoint=None)
    dutch = dutch.model_copy(
        update={
            "survey": dutch.survey.model_copy(update={"verbatim": "Mijn advocaat neemt contact op.", "language": "nl"})
        }  # type: ignore[union-attr]
    )
    assert fired(enriched(dutch)) == ["detractor.critical-driver"]


def test_a_complaint_about_safety_and_a_key_account_detractor() -> None:
    complaint = CanonicalEvent.model_validate(
        {
            "event_id": "c1", "event_type": EventType.COMPLAINT, "event_time": NOW, "ingest_time": NOW,
            "source": "crm", "source_record_id": "500x", "region": "amer", "team": "field-service",
            "comment": "The heater gave off smoke when we switched it on, this is dangerous.",
        }
    )  # fmt: skip
    assert fired(enriched(complaint)) == ["complaint.critical-driver"]
    assert fired(nps(5, customer_segment="enterprise")) == ["detractor.key-account"]
    assert fired(nps(8, customer_segment="enterprise")) == []  # a passive is no detractor


def test_a_delivery_more_than_five_days_late() -> None:
    assert fired(delivered(timedelta(days=5, hours=1))) == ["delivery.very-late"]
    assert fired(delivered(timedelta(days=5))) == []  # more than five days, not five
    [alert], _ = detect(RULES, delivered(timedelta(days=6)), NOW)
    assert alert.labels["owner"] == "logistics" and alert.metric == "delivery_delay" and alert.value == 144.0
    assert "6.0 days late in emea, ams-1" in alert.summary


def test_the_same_event_gives_the_same_alert_id_and_old_events_raise_nothing() -> None:
    event = nps(1, "I want to cancel")
    first, second = detect(RULES, event, NOW)[0], detect(RULES, event, NOW + timedelta(minutes=5))[0]
    assert [a.breach_id for a in first] == [a.breach_id for a in second]
    alerts, stale = detect(RULES, event, NOW + timedelta(days=2))  # a back-filled import two days later
    assert alerts == [] and stale == ["detractor.critical-driver"]


def test_the_breach_record_fits_the_schema_and_labels_route_to_the_owner() -> None:
    [alert], _ = detect(RULES, nps(0, "Cancel my subscription now", customer_segment="smb"), NOW)
    record = hot_breach_record(alert, Status.FIRING, int(NOW.timestamp() * 1000))
    decoded = BREACHES.decode(BREACHES.encode(record.to_record()))
    assert decoded["kind"] == "HOT_ALERT" and decoded["n"] == 1 and decoded["event_ids"] == [alert.event_id]
    assert decoded["labels"]["owner"] == "cx-operations" and decoded["labels"]["drivers"] == "churn_risk"
    assert decoded["scope"] == {"region": "emea", "site": "ams-1"}


def test_conditions_and_matchers() -> None:
    rule = HotAlertRule(
        id="emea.vip", when=Conditions(segments=("vip",), matchers=("region=~emea|apac", "channel!=paper"))
    )
    assert matches(rule, nps(9, customer_segment="vip"))
    assert not matches(rule, nps(9, customer_segment="vip", region="amer"))
    assert not matches(rule, nps(9, customer_segment="vip", channel="paper"))
    assert not matches(rule, nps(9))


@settings(max_examples=80, deadline=None)
@given(
    score=st.integers(0, 10),
    text=st.text(max_size=80),
    segment=st.sampled_from([None, "vip", "smb", "enterprise"]),
    minutes=st.integers(0, 3000),
)
def test_any_survey_answer_gives_consistent_alerts(score: int, text: str, segment: str | None, minutes: int) -> None:
    event = nps(score, text or None, customer_segment=segment)
    now = NOW + timedelta(minutes=minutes)
    alerts, stale = detect(RULES, event, now)
    for alert in alerts:
        assert alert.rule_id not in stale
        record = hot_breach_record(alert, Status.FIRING, int(now.timestamp() * 1000))
        assert BREACHES.decode(BREACHES.encode(record.to_record()))["breach_id"] == alert.breach_id
    if score >= 7:
        assert alerts == [] and stale == []
