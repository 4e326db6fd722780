from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from cxstream.app import load_context
from cxstream.connectors.base import RawContext
from cxstream.connectors.pipeline import normalize_record
from cxstream.demo.traffic import DemoTraffic
from cxstream.settings import Settings

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CONTEXT = load_context(Settings())

#: what each malformed kind must be refused by
EXPECTED_REJECTION = {
    "malformed.json": "decode.json",
    "malformed.utf8": "decode.utf8",
    "malformed.missing_agent": "required.agent_id",
    "malformed.future": "time.not_future",
    "malformed.score": "score.range",
    "malformed.missing_id": "required.DeliveryDocument",
    "malformed.shape": "mapping.shape",
}


def test_same_seed_same_records() -> None:
    a, b = DemoTraffic(seed=3), DemoTraffic(seed=3)
    assert [a.next(NOW) for _ in range(300)] == [b.next(NOW) for _ in range(300)]
    assert [DemoTraffic(seed=4).next(NOW) for _ in range(5)] != [DemoTraffic(seed=3).next(NOW) for _ in range(5)]


def test_every_record_is_what_the_generator_meant() -> None:
    traffic = DemoTraffic(seed=11, malformed_share=0.15, incident="delivery-delay-emea")
    seen: Counter[str] = Counter()
    for _ in range(2000):
        record = traffic.next(NOW)
        outcome = normalize_record(CONTEXT.connectors[record.topic], record.value, RawContext(NOW), CONTEXT.validator)
        seen[record.kind.split(".")[0]] += 1
        if record.kind in EXPECTED_REJECTION:
            assert [r.rule_id for r in outcome.rejects] == [EXPECTED_REJECTION[record.kind]], record
        elif record.kind != "duplicate":
            assert len(outcome.events) == 1 and not outcome.rejects, (record, outcome)
    assert seen["malformed"] > 200 and seen["duplicate"] > 10 and {"crm", "erp", "helpdesk", "canonical"} <= set(seen)


def _late_share(traffic: DemoTraffic, at: datetime, region: str) -> float:
    days = [traffic._late_days(at, region) for _ in range(2000)]
    return sum(1 for d in days if 2 <= d <= 5) / len(days)  # 6+ days: the rare lost parcel, anywhere


def test_incident_slips_emea_deliveries_only_after_it_starts() -> None:
    traffic = DemoTraffic(seed=5, incident="delivery-delay-emea", incident_start=NOW)
    before = _late_share(traffic, NOW - timedelta(seconds=1), "emea")
    during = _late_share(traffic, NOW, "emea")
    elsewhere = _late_share(traffic, NOW, "amer")
    assert before == 0.0 and elsewhere == 0.0
    assert 0.9 < during <= 1.0  # 95 % of emea deliveries slip 2-5 days


def test_hot_alert_material_is_rare_but_present() -> None:
    from cxstream.domain.alerting.hot_alerts import detect

    traffic = DemoTraffic(seed=11, incident="delivery-delay-emea", incident_start=NOW, malformed_share=0)
    fired: Counter[str] = Counter()
    events = 0
    for _ in range(40_000):
        record = traffic.next(NOW)
        outcome = normalize_record(CONTEXT.connectors[record.topic], record.value, RawContext(NOW), CONTEXT.validator)
        for event in outcome.events:
            events += 1
            fired.update(
                a.rule_id for a in detect(CONTEXT.topology.alerting.hot_alerts, CONTEXT.enricher(event), NOW)[0]
            )
    assert set(fired) >= {"detractor.critical-driver", "detractor.key-account"}, fired
    assert sum(fired.values()) < events / 200  # at most one event in 200 pages someone, even during the incident


def _seconds_to_critical(seed: int, rate: float, lead_s: float, critical: float) -> float | None:
    """Simulated seconds from the incident's start until EMEA's CSAT after delivery, over every answer so far
    (the war room's hourly window on a fresh run), first reads below ``critical``."""
    traffic = DemoTraffic(seed=seed, incident="delivery-delay-emea", incident_start=NOW + timedelta(seconds=lead_s))
    good = answers = 0
    for i in range(int(rate * (lead_s + 300))):
        now = NOW + timedelta(seconds=i / rate)
        record = traffic.next(now)
        outcome = normalize_record(CONTEXT.connectors[record.topic], record.value, RawContext(now), CONTEXT.validator)
        for event in outcome.events:
            survey = event.survey
            if (
                survey
                and survey.metric.value == "CSAT"
                and event.journey_stage == "delivery"
                and event.region == "emea"
            ):
                answers += 1
                good += survey.score >= 4
        if i / rate > lead_s and answers and 100 * good / answers < critical:
            return i / rate - lead_s
    return None


def test_the_incident_turns_emea_critical_within_a_minute_of_its_start() -> None:
    """What `make run` shows: 20 records/s, the incident after 60 s. Simulated time, so no clock is involved."""
    rule = next(r for r in CONTEXT.topology.alerting.thresholds if r.metric == "csat.delivery")
    critical = rule.levels_for({"region": "emea"}).critical
    assert critical is not None
    delays = [_seconds_to_critical(seed, 20.0, 60.0, critical) for seed in range(1, 9)]
    assert all(d is not None and d < 60 for d in delays), delays


def test_the_incident_raises_its_breaches_at_the_first_bucket_end() -> None:
    """The delivery rules judge EMEA on the 5-minute buckets the incident fills, through the worker's own
    evaluation: both breach by the end of the first whole bucket after the incident starts."""
    from cxstream.domain.alerting.evaluation import assess
    from cxstream.domain.metrics.cells import Cell, CellKey, CellValue, apply_update
    from cxstream.domain.metrics.measure import updates_for

    spec, alerting = CONTEXT.topology.metrics, CONTEXT.topology.alerting
    rules = [r for r in alerting.thresholds if r.metric in ("csat.delivery", "delivery_delay")]
    start = NOW + timedelta(seconds=60)
    traffic = DemoTraffic(seed=5, incident="delivery-delay-emea", incident_start=start)
    table: dict[CellKey, CellValue] = {}
    states: dict[object, object] = {}
    fired: dict[str, float] = {}
    rate, offset = 20.0, 0
    for i in range(int(rate * 12 * 60)):
        now = NOW + timedelta(seconds=i / rate)
        record = traffic.next(now)
        outcome = normalize_record(CONTEXT.connectors[record.topic], record.value, RawContext(now), CONTEXT.validator)
        for event in outcome.events:
            for update in updates_for(spec, event, 0):
                value = apply_update(table.get(update.key), update, offset)
                if value is not None:
                    table[update.key] = value
            offset += 1
        if i % int(rate * 30) == 0:  # the worker's evaluation clock: every 30 s
            cells = [Cell(k, v) for k, v in table.items()]
            for rule in rules:
                mine = {k: v for k, v in states.items() if k.rule_id == rule.id}  # type: ignore[attr-defined]
                new, verdicts = assess(rule, spec, cells, mine, now)  # type: ignore[arg-type]
                states.update(new)
                for verdict in verdicts:
                    if verdict.change.scope.get("region") == "emea":
                        fired.setdefault(rule.id, (now - start).total_seconds())
                    else:
                        raise AssertionError(f"a false breach outside the incident: {verdict.change}")
    first_bucket_end = 300 - start.timestamp() % 300 + 300  # the first whole bucket after the start ends
    assert set(fired) == {r.id for r in rules}, fired
    assert all(seconds <= first_bucket_end + 30 for seconds in fired.values()), fired
