"""The alert desk: breaches and hot alerts through the shipped routing tree into escalation records; ladders
climb when nobody acknowledges and stop when someone does; silences mute; the whole state survives a
restart and the same notification always gets the same id."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cxstream.app import load_context
from cxstream.domain.alerting.desk import AlertDesk, Lapse, case_id_for
from cxstream.domain.alerting.hot_alerts import HotAlert
from cxstream.domain.alerting.records import Breach, BreachKind, Direction, Escalation, Status
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.alerting.silences import new_silence
from cxstream.domain.alerting.state import DeskState
from cxstream.domain.base import from_ms
from cxstream.domain.cases.machine import ActionType
from cxstream.settings import Settings
from tests.unit.test_hot_alerts import at

CTX = load_context(Settings())
ALERTING = CTX.topology.alerting
assert ALERTING.routing is not None
ROUTES = ALERTING.routing.build()
CODEC = CTX.codecs.for_topic("cx.escalations.logistics", "cxstream.Escalation")
BREACHES = CTX.codecs.for_topic("cx.breaches", "cxstream.Breach")
S, M, H = 1_000, 60_000, 3_600_000


def desk(state: DeskState | None = None) -> AlertDesk:
    return AlertDesk(ALERTING, ROUTES, state)


def breach(
    status: str, severity: str, region: str = "emea", bid: str = "br-1", labels: dict[str, str] | None = None
) -> Breach:
    labels = labels or {"rule": "csat.delivery.low", "metric": "csat.delivery", "owner": "logistics",
                        "severity": severity, "region": region}  # fmt: skip
    return Breach(
        breach_id=bid, rule_id="csat.delivery.low", kind=BreachKind.THRESHOLD, status=Status(status),
        severity=Severity(severity), metric="csat.delivery", scope={"region": region}, labels=labels, n=40,
        direction=Direction.BELOW, started_at=from_ms(0), updated_at=from_ms(0),
        summary=f"{bid} {severity.lower()} in {region}",
    )  # fmt: skip


def hot(bid: str = "br-hot-1", owner: str = "cx-operations", at_ms: int = 0) -> HotAlert:
    return HotAlert(
        breach_id=bid, rule_id="detractor.critical-driver", severity=Severity.CRITICAL,
        labels={"rule": "detractor.critical-driver", "kind": "HOT_ALERT", "severity": "CRITICAL", "owner": owner,
                "region": "emea", "metric": "nps"},
        event_id="e1", event_ms=at_ms - 2 * S, ingest_ms=at_ms - S, detected_ms=at_ms, resolve_at_ms=at_ms + 24 * H,
        metric="nps", value=2.0, summary="Detractor threatens to leave: NPS 2",
    )  # fmt: skip


def levels(records: list[Escalation]) -> list[tuple[str, int, str]]:
    return [(r.receiver, r.level, r.status) for r in records]


def test_a_critical_breach_goes_to_its_team_at_once_and_resolves_once() -> None:
    d = desk()
    d.on_breach(breach("FIRING", "CRITICAL"), 0)
    [record] = d.tick(0).escalations  # the critical logistics route has group_wait 0s
    assert record.receiver == "logistics" and record.severity == "CRITICAL" and record.level == 0
    assert record.breach_ids == ("br-1",) and record.labels["status"] == "firing"
    assert CODEC.decode(CODEC.encode(record.to_record()))["escalation_id"] == record.escalation_id
    d.on_breach(breach("RESOLVED", "CRITICAL"), 10 * M)
    [resolved] = d.tick(10 * M).escalations
    assert resolved.labels["status"] == "resolved" and resolved.summary.startswith("resolved: ")
    assert d.tick(2 * H).escalations == [] and d.alerts == {} and d.ladders == {}


def test_a_severity_change_replaces_the_alert_instead_of_resolving_it() -> None:
    d = desk()
    d.on_breach(breach("FIRING", "WARNING"), 0)
    [first] = d.tick(30 * S).escalations
    d.on_breach(breach("UPDATED", "CRITICAL"), 60 * S)
    assert [r.severity for r in d.tick(60 * S).escalations] == ["CRITICAL"]  # a new group, sent at once
    later = [r for t in range(1, 3) for r in d.tick(30 * S + t * 5 * M).escalations]
    assert all(r.labels["status"] == "firing" for r in later)  # the warning was withdrawn, never resolved
    assert first.severity == "WARNING"


def test_an_unacknowledged_critical_breach_climbs_the_ladder_one_level_at_a_time() -> None:
    d = desk()
    d.on_breach(breach("FIRING", "CRITICAL"), 0)
    assert levels(d.tick(0).escalations) == [("logistics", 0, "firing")]
    assert d.tick(14 * M).escalations == []
    [lead] = d.tick(15 * M).escalations
    assert (lead.receiver, lead.level, lead.labels["notify"]) == ("logistics", 1, "team-lead")
    assert lead.labels["case_id"] == case_id_for("br-1") and "not acknowledged after 15m" in lead.summary
    assert CODEC.decode(CODEC.encode(lead.to_record()))["level"] == 1
    assert d.tick(44 * M).escalations == []  # 30 minutes after the team lead, not after the start
    assert [r.labels["notify"] for r in d.tick(45 * M).escalations] == ["ops-manager"]
    [director] = d.tick(105 * M).escalations
    assert (director.receiver, director.level) == ("cx-operations", 3)  # the level names its own receiver
    assert [r for r in d.tick(10 * H).escalations if r.level > 0] == []  # the top of the ladder


def test_acknowledging_the_case_stops_the_ladder_and_a_new_breach_starts_its_own() -> None:
    d = desk()
    d.on_breach(breach("FIRING", "CRITICAL"), 0)
    d.tick(0)
    [_] = d.tick(15 * M).escalations
    assert d.on_ack(case_id_for("br-1"), "j.devries", 16 * M)
    assert not d.on_ack(case_id_for("br-1"), "someone.else", 17 * M)  # taken once
    assert not d.on_ack("case-unknown", "x", 17 * M)
    assert [r for r in d.tick(2 * H).escalations if r.level > 0] == []
    d.on_breach(breach("FIRING", "CRITICAL", region="apac", bid="br-2"), 2 * H)
    assert levels(d.tick(2 * H).escalations) == [("logistics", 0, "firing")]
    assert levels(d.tick(2 * H + 15 * M).escalations) == [("logistics", 1, "firing")]


def test_a_resolved_breach_leaves_its_ladder() -> None:
    d = desk()
    d.on_breach(breach("FIRING", "CRITICAL"), 0)
    d.tick(0)
    d.on_breach(breach("RESOLVED", "CRITICAL"), 5 * M)
    assert levels(d.tick(5 * M).escalations) == [("logistics", 0, "resolved")]
    assert d.tick(3 * H).escalations == [] and d.ladders == {}


def test_warnings_follow_the_standard_ladder() -> None:
    d = desk()
    d.on_breach(breach("FIRING", "WARNING"), 0)
    d.tick(30 * S)
    assert d.tick(30 * S + 2 * H - 1).escalations == []
    assert [r.labels["policy"] for r in d.tick(30 * S + 2 * H).escalations] == ["standard"]


def test_a_silence_mutes_a_breach_and_holds_its_ladder() -> None:
    d = desk()
    silence = new_silence(["region=emea", "owner=logistics"], at(0), at(H), "m.jansen", "carrier strike, known")
    d.on_silence(silence)
    d.on_breach(breach("FIRING", "CRITICAL"), 0)
    assert d.tick(0).escalations == []  # muted: nothing sent, no ladder started
    d.on_breach(breach("FIRING", "CRITICAL", region="apac", bid="br-2"), 0)
    assert [r.breach_ids for r in d.tick(0).escalations] == [("br-2",)]
    later = d.tick(H).escalations  # expired: the emea breach goes out at the next flush; apac climbs meanwhile
    assert [(r.labels["region"], r.level) for r in later] == [("emea", 0), ("apac", 1)]
    assert "sil-" not in str(d.to_json()["silences"])  # an ended silence is dropped from the state


def test_a_hot_alert_goes_out_at_once_alone_and_only_once() -> None:
    d = desk()
    record = d.on_hot(hot(at_ms=0), 0)
    assert record is not None and record.kind == "HOT_ALERT" and record.status == "FIRING"
    assert BREACHES.decode(BREACHES.encode(record.to_record()))["event_ids"] == ["e1"]
    outcome = d.tick(0)
    [escalation] = outcome.escalations
    assert escalation.receiver == "cx-operations" and escalation.breach_ids == ("br-hot-1",)
    assert escalation.first_event_ms == -2 * S and outcome.latencies_s == [1.0]
    assert d.on_hot(hot(at_ms=5 * S), 5 * S) is None  # the same event again (replayed after a crash)
    d.on_hot(hot("br-hot-2", owner="logistics", at_ms=10 * S), 10 * S)
    assert levels(d.tick(10 * S).escalations) == [("logistics", 0, "firing")]  # its own group, not waiting


def test_a_hot_alert_resolves_by_itself() -> None:
    d = desk()
    d.on_hot(hot(at_ms=0), 0)
    d.tick(0)
    d.on_ack(case_id_for("br-hot-1"), "a.agent", M)
    resolved = d.tick(24 * H)
    assert [(r.breach_id, r.status) for r in resolved.breaches] == [("br-hot-1", Status.RESOLVED)]
    assert levels(resolved.escalations) == [("cx-operations", 0, "resolved")]  # its group's flush was due
    assert d.tick(24 * H + M).escalations == []
    assert d.hot == {} and d.alerts == {}


def test_unrouted_alerts_are_counted() -> None:
    d = desk()
    d.on_breach(breach("FIRING", "WARNING", labels={"rule": "x", "severity": "WARNING"}), 0)
    assert d.unmatched == 1
    assert levels(d.tick(30 * S).escalations) == [("cx-operations", 0, "firing")]


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("breach"), st.sampled_from(["FIRING", "UPDATED", "RESOLVED"]), st.sampled_from(["a", "b"])),
        st.tuples(st.just("hot"), st.sampled_from(["h1", "h2"]), st.just("")),
        st.tuples(st.just("ack"), st.sampled_from(["a", "b", "h1"]), st.just("")),
        st.tuples(st.just("wait"), st.integers(1, 200), st.just("")),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(steps=STEPS)
def test_a_restart_at_any_point_changes_nothing(steps: list[tuple[str, Any, str]]) -> None:
    """Two desks get the same inputs; one is rebuilt from its JSON state before every input (a worker
    that crashed and recovered its table each time). They publish exactly the same records."""
    import json

    steady, now = desk(), 0
    state: dict[str, Any] = {}
    for kind, a, b in steps:
        restarted = desk(DeskState.from_json(json.loads(json.dumps(state))))
        for d in (steady, restarted):
            if kind == "breach":
                severity = "CRITICAL" if a != "FIRING" else "WARNING"
                d.on_breach(breach(a, severity, region=b, bid=f"br-{b}"), now)
            elif kind == "hot":
                d.on_hot(hot(f"br-{a}", at_ms=now), now)
            elif kind == "ack":
                d.on_ack(case_id_for(f"br-{a}"), "x", now)
            else:
                now += a * M
        assert steady.tick(now).escalations == restarted.tick(now).escalations
        state = restarted.to_json()
        assert state == steady.to_json()


def lapse(step: str = "acknowledge", due_ms: int = 10 * M, bid: str = "br-1", team: str = "logistics") -> Lapse:
    return Lapse(case_id_for(bid), bid, step, due_ms, team, Severity.CRITICAL,
                 {"region": "emea", "severity": "CRITICAL", "owner": team})  # fmt: skip


def test_a_missed_sla_step_pushes_the_ladder_up_once() -> None:
    d = desk()
    d.on_breach(breach("FIRING", "CRITICAL"), 0)
    d.tick(0)  # level 0; the critical ladder's own level 1 is 15 minutes away
    out = d.on_overdue(lapse(due_ms=10 * M), 10 * M + 5 * S)
    assert levels(out.escalations) == [("logistics", 1, "firing")]
    [record] = out.escalations
    assert record.labels["sla"] == "acknowledge" and record.labels["notify"] == "team-lead"
    [action] = out.case_actions  # the case's history shows the page
    assert (action.action, action.case_id, action.labels["level"]) == (ActionType.ESCALATE, "case-1", "1")
    assert d.on_overdue(lapse(due_ms=10 * M), 11 * M).escalations == []  # the same lapse again: once
    # the ladder's own clock now counts from the push: level 2 (after 30m) at 40m05s, not at 45m
    assert levels(d.tick(40 * M).escalations) == []
    assert [r.level for r in d.tick(40 * M + 5 * S).escalations] == [2]


def test_a_lapse_the_ladder_already_paged_for_adds_nothing() -> None:
    d = desk()
    d.on_breach(breach("FIRING", "CRITICAL"), 0)
    d.tick(0)
    assert [r.level for r in d.tick(15 * M).escalations] == [1]  # the ladder's own level 1 at 15m
    assert d.on_overdue(lapse(due_ms=15 * M), 15 * M + 2 * S).escalations == []  # an SLA of 15m: same lapse


def test_an_acknowledged_case_that_misses_its_resolution_pages_the_next_level_once() -> None:
    d = desk()
    d.on_breach(breach("FIRING", "CRITICAL"), 0)
    d.tick(0)
    d.tick(15 * M)  # level 1
    d.on_ack(case_id_for("br-1"), "j.devries", 16 * M)
    out = d.on_overdue(lapse("resolve", due_ms=24 * H), 24 * H)
    assert [(r.level, r.labels["sla"]) for r in out.escalations] == [(2, "resolve")]
    later = d.tick(48 * H).escalations  # the route's reminder (level 0) may be due; no ladder restarted
    assert [r.level for r in later if r.level > 0] == [] and not d.ladders


def test_resolving_a_hot_alerts_case_ends_the_alert_at_once() -> None:
    d = desk()
    d.on_hot(hot(at_ms=0), 0)
    d.tick(0)
    assert d.on_case_ended("case-unknown", M).breaches == []
    out = d.on_case_ended(case_id_for("br-hot-1"), 2 * H)
    assert [(r.breach_id, r.status) for r in out.breaches] == [("br-hot-1", Status.RESOLVED)]
    assert d.hot == {} and d.on_case_ended(case_id_for("br-hot-1"), 3 * H).breaches == []
