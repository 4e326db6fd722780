"""The floor and the live staffing gap without Kafka: agents' presence from status events, the service level
the floor gives against the forecast, and the gap's breach lifecycle (hold, update, resolve)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from cxstream.demo.floor import MEETING_AFTER, MEETING_LENGTH, DemoFloor, seats
from cxstream.domain.alerting import control
from cxstream.domain.alerting.control import PresenceInput
from cxstream.domain.alerting.records import BreachKind, Status
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.base import to_ms
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation
from cxstream.domain.workforce.gaps import GapState, judge, outlook, projected_service_level
from cxstream.domain.workforce.presence import Floor, Presence, Roster
from cxstream.domain.workforce.queues import queue_plan
from cxstream.domain.workforce.spec import GapSpec, Workforce
from tests.unit.test_workforce_plan import CTX, TODAY, index

EMEA_CHAT = {"region": "emea", "channel": "chat"}


def presence(agent: str, status: str, at: int, channel: str = "chat", region: str = "emea") -> Presence:
    return Presence(agent, channel, status, at, "customer-service", region, "lis-1")


def test_a_status_event_becomes_a_presence_and_travels_to_the_routing_side() -> None:
    event = CanonicalEvent(
        event_id="acd:1", event_type=EventType.AGENT_STATUS, event_time=datetime(2026, 11, 30, 9, tzinfo=UTC),
        ingest_time=datetime(2026, 11, 30, 9, tzinfo=UTC), source="acd", source_record_id="1", agent_id="a1",
        team="customer-service", region="emea", site="lis-1", channel="Chat", operation=Operation(status="Online"),
    )  # fmt: skip
    seen = Presence.of(event)
    assert seen == presence("a1", "online", to_ms(event.event_time))
    assert Presence.of(event.model_copy(update={"event_type": EventType.TICKET_SOLVED})) is None
    assert Presence.of(event.model_copy(update={"operation": None})) is None
    wire = control.encode(PresenceInput(seen))
    assert control.decode(wire) == PresenceInput(seen) and control.kind_of(PresenceInput(seen)) == "presence"
    assert Presence.from_json(seen.to_json()) == seen


def test_the_latest_status_wins_whatever_order_the_events_come_in() -> None:
    roster = Roster()
    roster = roster.apply(presence("a1", "online", 1_000)) or roster
    later = roster.apply(presence("a1", "away", 5_000))
    assert later is not None and later.floor(EMEA_CHAT) == Floor(0, 1, {"away": 1})
    assert later.apply(presence("a1", "online", 2_000)) is None  # older: changes nothing
    assert later.apply(presence("a1", "away", 5_000)) is None  # a replay: changes nothing
    assert Roster.from_json(later.to_json()) == later
    assert Roster.from_json(None) == Roster()


def test_the_floor_counts_each_agent_once_by_the_queue_scope() -> None:
    roster = Roster()
    for one in (presence("a1", "online", 1), presence("a1", "online", 1, channel="email"),
                presence("a2", "busy", 1), presence("a3", "offline", 1), presence("a4", "away", 1),
                presence("a5", "online", 1, region="amer"), presence("a6", "online", 1, channel="email")):  # fmt: skip
        roster = roster.apply(one) or roster
    assert roster.floor(EMEA_CHAT) == Floor(2, 4, {"away": 1, "busy": 1, "offline": 1, "online": 1})
    assert roster.floor({"region": "emea"}) == Floor(3, 5, {"away": 1, "busy": 1, "offline": 1, "online": 2})
    assert roster.floor({"team": "customer-service"}).staffed == 4
    assert roster.floor({"region": "apac"}) == Floor(0, 0, {}) and not roster.floor({"region": "apac"}).known


def test_the_projected_service_level_is_erlang_at_the_agents_on_the_floor() -> None:
    assert projected_service_level(100, 1800, 180, None, 14, 20) == pytest.approx(0.8884, abs=5e-5)
    assert projected_service_level(100, 1800, 180, None, 10, 20) == 0.0  # 10 agents for 10 Erlangs: unstable
    assert projected_service_level(100, 1800, 180, None, 0, 20) == 0.0
    assert projected_service_level(0, 1800, 180, None, 0, 20) == 1.0
    with_patience = projected_service_level(100, 1800, 180, 300, 10, 20)
    assert 0 < with_patience < 0.8  # abandonment keeps the queue stable, not good


def plan_at(hour: int):  # type: ignore[no-untyped-def]
    workforce = CTX.topology.workforce
    queue = workforce.queue("emea-chat")
    return queue_plan(CTX.topology.metrics, workforce, queue, index(), TODAY, 1), to_ms(
        datetime(TODAY.year, TODAY.month, TODAY.day, hour, 5, tzinfo=UTC)
    )


def test_the_outlook_weighs_the_floor_against_the_running_interval_and_those_ahead() -> None:
    plan, now = plan_at(11)
    current = next(s for s in plan.staffing if to_ms(s.forecast.start) <= now < to_ms(s.forecast.end))
    assert current.agents is not None and current.agents >= 2
    enough = outlook(plan, Floor(current.agents, current.agents), now, 1)
    [one] = enough.intervals
    assert (one.required, one.staffed, one.short) == (current.agents, current.agents, 0)
    assert one.service_level >= plan.target.service_level and enough.severity(GapSpec()) is None
    assert one.service_level_low <= one.service_level <= one.service_level_high
    short = outlook(plan, Floor(current.agents - 1, current.agents), now, 1)
    assert short.intervals[0].service_level < one.service_level and short.intervals[0].short == 1
    nobody = outlook(plan, Floor(0, 3), now, 3_600_000)
    assert len(nobody.intervals) == 3  # 11:00-11:30 running, 11:30 and 12:00 start within the hour
    assert nobody.worst is not None and nobody.worst.service_level == 0.0
    assert nobody.severity(GapSpec()) is Severity.CRITICAL
    unknown = outlook(plan, Floor(0, 0), now, 3_600_000)
    assert unknown.insufficient is not None and "no agent status" in unknown.insufficient
    assert unknown.severity(GapSpec()) is None


def test_a_gap_fires_after_its_hold_changes_severity_and_resolves_on_evidence() -> None:
    plan, now = plan_at(11)
    spec = GapSpec(hold="2m", critical_service_level=0.4)
    current = next(s for s in plan.staffing if to_ms(s.forecast.start) <= now < to_ms(s.forecast.end))
    assert current.agents is not None
    nobody = outlook(plan, Floor(0, 4), now, 1)
    state, breach = judge(nobody, GapState(), spec, now)
    assert breach is None and state.pending_ms == now  # seen, held
    state, breach = judge(nobody, state, spec, now + 60_000)
    assert breach is None and state.pending_ms == now
    state, breach = judge(nobody, state, spec, now + 120_000)
    assert breach is not None and breach.status is Status.FIRING and breach.severity is Severity.CRITICAL
    assert breach.kind is BreachKind.STAFFING_GAP and breach.value == 0.0 and breach.threshold == 0.8
    assert breach.labels["kind"] == "STAFFING_GAP" and breach.labels["owner"] == "workforce"
    assert breach.scope == {"queue": "emea-chat", "region": "emea", "channel": "chat"}
    assert breach.n == current.forecast.weeks == 8
    assert f"0 agents on the floor, {current.agents} needed 11:00 UTC-11:30 UTC" in breach.summary
    assert "n=8 weeks" in breach.summary and "target 0.80 in 20s" in breach.summary
    # one agent short of the two needed: 0.50 is under the target, above the critical level
    short = outlook(plan, Floor(current.agents - 1, 4), now, 1)
    assert short.severity(spec) is Severity.WARNING
    state, updated = judge(short, state, spec, now + 180_000)
    assert updated is not None and updated.status is Status.UPDATED and updated.breach_id == breach.breach_id
    assert updated.severity is Severity.WARNING and state.severity is Severity.WARNING
    unknown = outlook(plan, Floor(0, 0), now, 1)
    assert judge(unknown, state, spec, now + 200_000) == (state, None)  # no evidence keeps it open
    staffed = outlook(plan, Floor(current.agents, 4), now, 1)
    closed, resolved = judge(staffed, state, spec, now + 240_000)
    assert closed == GapState() and resolved is not None and resolved.status is Status.RESOLVED
    assert resolved.breach_id == breach.breach_id and resolved.summary.startswith("Staffing gap closed")
    assert GapState.from_json(state.to_json()) == state


def test_a_gap_that_ends_within_its_hold_never_fires() -> None:
    plan, now = plan_at(11)
    current = next(s for s in plan.staffing if to_ms(s.forecast.start) <= now < to_ms(s.forecast.end))
    assert current.agents is not None
    state, _ = judge(outlook(plan, Floor(0, 4), now, 1), GapState(), GapSpec(), now)
    state, breach = judge(outlook(plan, Floor(current.agents, 4), now, 1), state, GapSpec(), now + 60_000)
    assert breach is None and state == GapState()


def test_the_critical_level_must_lie_under_every_queues_target() -> None:
    with pytest.raises(ValueError, match="not under its service-level target"):
        Workforce.model_validate({"gaps": {"critical_service_level": 0.85},
                                  "queues": [{"id": "q1", "display": "Q", "team": "billing"}]})  # fmt: skip


def test_the_demo_floor_logs_everyone_in_and_empties_emea_chat_for_its_meetings() -> None:
    start = datetime(2026, 11, 30, 9, tzinfo=UTC)
    floor = DemoFloor(start)
    first = floor.due(start)
    assert len(first) == len(seats()) == 33
    roster = Roster()
    for record in first:
        event = CanonicalEvent.model_validate({**json.loads(record.value), "ingest_time": start,
                                               "raw_payload": record.value})  # fmt: skip
        found = Presence.of(event)
        assert found is not None
        roster = roster.apply(found) or roster
    assert roster.floor(EMEA_CHAT).staffed == 4
    meeting = floor.due(start + MEETING_AFTER + timedelta(seconds=1))
    away = [r for r in meeting if b'"status":"away"' in r.value and b'"channel":"chat"' in r.value
            and b'"region":"emea"' in r.value]  # fmt: skip
    assert len(away) >= 4
    back = floor.due(start + MEETING_AFTER + MEETING_LENGTH + timedelta(seconds=1))
    assert sum(b'"status":"online"' in r.value and b'"region":"emea","site":"lis-1","channel":"chat"' in r.value
               for r in back) >= 3  # fmt: skip
