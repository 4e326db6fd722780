"""Breaches through the routing tree into escalation records; the dispatcher's state survives a restart."""

from __future__ import annotations

from typing import Any

from cxstream.app import load_context
from cxstream.domain.escalation import apply_breach, escalation_record
from cxstream.domain.routing import Dispatcher
from cxstream.settings import Settings

CTX = load_context(Settings())
assert CTX.topology.alerting.routing is not None
ROOT, INHIBIT = CTX.topology.alerting.routing.build()
CODEC = CTX.codecs.for_topic("cx.escalations.logistics", "cxstream.Escalation")
S, M = 1_000, 60_000


def breach(status: str, severity: str, region: str = "emea", bid: str = "br-1") -> dict[str, Any]:
    return {
        "breach_id": bid, "status": status, "summary": f"{bid} {severity.lower()} in {region}",
        "labels": {"rule": "csat.delivery.low", "metric": "csat.delivery", "owner": "logistics",
                   "severity": severity, "region": region},
    }  # fmt: skip


def test_a_critical_breach_goes_to_its_team_at_once_and_resolves_once() -> None:
    dispatcher, alerts = Dispatcher(ROOT, INHIBIT), {}
    apply_breach(dispatcher, breach("FIRING", "CRITICAL"), alerts, 0)
    [note] = dispatcher.due(0)  # the critical logistics route has group_wait 0s
    record = escalation_record(note, {"br-1": "CSAT after delivery is falling"})
    assert record["receiver"] == "logistics" and record["severity"] == "CRITICAL"
    assert record["breach_ids"] == ["br-1"] and record["labels"]["status"] == "firing"
    assert CODEC.decode(CODEC.encode(record))["escalation_id"] == record["escalation_id"]
    apply_breach(dispatcher, breach("RESOLVED", "CRITICAL"), alerts, 60 * M)
    [resolved] = dispatcher.due(60 * M)
    assert escalation_record(resolved, {})["labels"]["status"] == "resolved"
    assert dispatcher.due(120 * M) == [] and alerts == {}


def test_a_severity_change_replaces_the_alert_instead_of_resolving_it() -> None:
    dispatcher, alerts = Dispatcher(ROOT, INHIBIT), {}
    apply_breach(dispatcher, breach("FIRING", "WARNING"), alerts, 0)
    [first] = dispatcher.due(30 * S)
    apply_breach(dispatcher, breach("UPDATED", "CRITICAL"), alerts, 60 * S)
    notes = dispatcher.due(60 * S)  # a new group (the critical route), sent at once
    assert [escalation_record(n, {})["severity"] for n in notes] == ["CRITICAL"]
    later = [n for t in range(1, 3) for n in dispatcher.due(30 * S + t * 5 * M)]
    assert all(not n.resolved for n in later)  # the warning was withdrawn, never reported resolved
    assert first.firing[0]["severity"] == "WARNING"


def test_state_survives_a_restart_and_ids_repeat_for_the_same_notification() -> None:
    dispatcher, alerts = Dispatcher(ROOT, INHIBIT), {}
    apply_breach(dispatcher, breach("FIRING", "WARNING", region="apac", bid="br-2"), alerts, 0)
    saved = dispatcher.to_json()
    restarted = Dispatcher(ROOT, INHIBIT)
    restarted.restore(saved)
    assert dispatcher.due(29 * S) == restarted.due(29 * S) == []
    one, two = dispatcher.due(30 * S), restarted.due(30 * S)
    assert [escalation_record(n, {}) for n in one] == [escalation_record(n, {}) for n in two]
    assert restarted.due(60 * S) == []  # nothing changed: no second notification
