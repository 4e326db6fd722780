"""Shift handovers without Kafka: shifts in local time (across a DST change), a handover built from the routing
side's records of one shift, its Avro round trip, and the escalation of an unacknowledged one."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from cxstream.domain.alerting.records import Breach, BreachKind, Direction, Status
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.base import to_ms
from cxstream.domain.cases.machine import Action, ActionType, CasePolicy, action_record, apply, case_record
from cxstream.domain.handovers.build import build_handover
from cxstream.domain.handovers.duty import RULE_ID, breach_id, decide
from cxstream.domain.handovers.ledger import ShiftLedger
from cxstream.domain.handovers.records import Handover, HandoverAck, HandoverBook, MetricMove
from cxstream.domain.handovers.spec import HandoverSpec, TeamShifts, ended_between, shift_at, windows

SHIFTS = [{"name": "day", "start": "06:00"}, {"name": "evening", "start": "14:00"}, {"name": "night", "start": "22:00"}]
TEAM = TeamShifts.model_validate({"team": "logistics", "time_zone": "Europe/Amsterdam", "shifts": SHIFTS})
SPEC = HandoverSpec.model_validate({"ack_within": "30m", "grace": "2m", "teams": [TEAM.model_dump()]})


def ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text).replace(tzinfo=UTC))


def test_shifts_follow_local_time_across_a_dst_change() -> None:
    # Amsterdam: CET (UTC+1) in winter; the day shift starts 05:00 UTC
    day = shift_at(TEAM, ms("2026-12-05T09:00:00"))
    assert (day.shift, day.start_ms, day.end_ms) == ("day", ms("2026-12-05T05:00:00"), ms("2026-12-05T13:00:00"))
    assert day.handover_id == "logistics.20261205T050000Z"
    night = shift_at(TEAM, ms("2026-12-05T23:30:00"))
    assert (night.shift, night.end_ms) == ("night", ms("2026-12-06T05:00:00"))
    # summer time starts 2026-03-29 02:00 local: that night shift lasts 7 hours, the next day shift starts 04:00 UTC
    short = shift_at(TEAM, ms("2026-03-29T00:00:00"))
    assert short.shift == "night" and short.end_ms - short.start_ms == 7 * 3_600_000
    assert shift_at(TEAM, ms("2026-03-29T05:00:00")).start_ms == ms("2026-03-29T04:00:00")
    ended = ended_between(TEAM, ms("2026-12-05T12:00:00"), ms("2026-12-05T22:00:00"))
    assert [(w.shift, w.end_ms) for w in ended] == [("day", ms("2026-12-05T13:00:00")),
                                                    ("evening", ms("2026-12-05T21:00:00"))]  # fmt: skip
    spans = windows(TEAM, ms("2026-12-05T00:00:00"), ms("2026-12-06T00:00:00"))
    assert all(a.end_ms == b.start_ms for a, b in pairwise(spans))


def _breach(bid: str, status: Status, at: str, owner: str = "logistics") -> dict[str, object]:
    when = datetime.fromisoformat(at).replace(tzinfo=UTC)
    return Breach(breach_id=bid, rule_id="csat.delivery.low", kind=BreachKind.THRESHOLD, status=status,
                  severity=Severity.CRITICAL, metric="csat.delivery", scope={"region": "emea"},
                  labels={"owner": owner, "region": "emea"}, n=182, direction=Direction.BELOW, started_at=when,
                  updated_at=when, summary=f"{bid} CSAT after delivery is falling").to_record()  # fmt: skip


def ledger_of_one_shift() -> ShiftLedger:
    """The day shift of 2026-12-05 (05:00-13:00 UTC): one breach opens and stays, one opened the night before
    resolves, another team's breach, a case opened, escalated one level and acknowledged, a silence added."""
    ledger = ShiftLedger()
    ledger.add_breach(_breach("b-new", Status.FIRING, "2026-12-05T08:00:00"))
    ledger.add_breach(_breach("b-new", Status.UPDATED, "2026-12-05T09:00:00"))
    ledger.add_breach(_breach("b-old", Status.FIRING, "2026-12-05T02:00:00"))
    ledger.add_breach(_breach("b-old", Status.RESOLVED, "2026-12-05T07:00:00"))
    ledger.add_breach(_breach("b-other", Status.FIRING, "2026-12-05T08:00:00", owner="billing"))
    ledger.add_breach(_breach("b-later", Status.FIRING, "2026-12-05T13:30:00"))  # the next shift's
    policy = CasePolicy()
    opened = Action("a1", "case-1", ActionType.OPEN, "system:routing", ms("2026-12-05T08:01:00"), team="logistics",
                    severity="CRITICAL", breach_id="b-new")  # fmt: skip
    escalated = Action("a2", "case-1", ActionType.ESCALATE, "timer:ladder", ms("2026-12-05T08:16:00"),
                       labels={"level": "1", "notify": "team-lead"})  # fmt: skip
    taken = Action("a3", "case-1", ActionType.ACKNOWLEDGE, "ana", ms("2026-12-05T08:20:00"))
    assigned = Action("a4", "case-1", ActionType.ASSIGN, "ana", ms("2026-12-05T08:21:00"), assignee="ana")
    case = None
    for action in (opened, escalated, taken, assigned):
        ledger.add_action(action_record(action))
        if action.action is not ActionType.ESCALATE:
            case = apply(case, action, policy)
    assert case is not None
    ledger.add_case(case_record(case))
    ledger.add_silence({"silence_id": "sil-1", "matchers": ["rule=delivery.very-late"], "created_by": "ana",
                        "comment": "depot backlog known", "starts_at": datetime(2026, 12, 5, 9, tzinfo=UTC),
                        "ends_at": datetime(2026, 12, 5, 15, tzinfo=UTC),
                        "updated_at": datetime(2026, 12, 5, 9, tzinfo=UTC), "updated_by": None})  # fmt: skip
    nine = datetime(2026, 12, 5, 9, tzinfo=UTC)
    ledger.add_silence({"silence_id": "sil-2", "matchers": ["owner=billing"], "created_by": "bo", "comment": "x",
                        "starts_at": nine, "ends_at": nine + timedelta(hours=1), "updated_at": nine,
                        "updated_by": None})  # fmt: skip
    return ledger


MOVE = MetricMove("csat.delivery", "Delivery CSAT", {"region": "emea"}, "%", 78.4, 204, 72.3, 83.5, 41.2, 182, 34.3,
                  48.5, -37.2, -8.1)  # fmt: skip


def test_a_handover_holds_what_the_team_did_during_the_shift() -> None:
    day = shift_at(TEAM, ms("2026-12-05T09:00:00"))
    handover = build_handover(SPEC, TEAM, day, ledger_of_one_shift(), [MOVE], ms("2026-12-05T13:02:00"))
    assert handover.next_shift == "evening" and handover.ack_due_ms == ms("2026-12-05T13:32:00")
    lines = {b.breach_id: b for b in handover.breaches}
    assert set(lines) == {"b-new", "b-old"}  # not billing's, not the next shift's
    assert lines["b-new"].opened and not lines["b-new"].resolved and lines["b-new"].status == "UPDATED"
    assert lines["b-new"].updates == 2
    assert lines["b-old"].resolved and not lines["b-old"].opened and lines["b-old"].status == "RESOLVED"
    [case] = handover.cases
    assert (case.case_id, case.state, case.assignee, case.next_step) == ("case-1", "ACKNOWLEDGED", "ana", "resolve")
    # CRITICAL: resolve within a day of opening at 08:01; at 13:00 that is 19 h 1 min away
    assert case.minutes_left == 19 * 60 + 1
    assert case.done == (
        "08:01 UTC OPEN by system:routing",
        "08:20 UTC ACKNOWLEDGE by ana",
        "08:21 UTC ASSIGN by ana: ana",
    )
    assert [(s.case_id, s.level, s.notify) for s in handover.ladder] == [("case-1", 1, "team-lead")]
    assert [s.silence_id for s in handover.silences] == ["sil-1"]  # billing's silence is not logistics'
    assert handover.pick_up == (
        "CRITICAL csat.delivery.low still firing: b-new CSAT after delivery is falling",
        "case case-1 (CRITICAL, acknowledged, with ana): resolve due in 1141 min",
        "silence sil-1 (rule=delivery.very-late) ends at 15:00 UTC",
    )
    assert handover.metrics == (MOVE,)


def test_a_handover_survives_its_avro_round_trip() -> None:
    from pathlib import Path

    from cxstream.serde.avro import CodecFactory
    from cxstream.serde.catalog import SchemaCatalog

    factory = CodecFactory(SchemaCatalog.from_dir(Path(__file__).resolve().parents[2] / "schemas"))
    codec = factory.for_topic("cx.handovers", "cxstream.Handover")
    day = shift_at(TEAM, ms("2026-12-05T09:00:00"))
    handover = build_handover(SPEC, TEAM, day, ledger_of_one_shift(), [MOVE], ms("2026-12-05T13:02:00"))
    assert Handover.from_record(codec.decode(codec.encode(handover.record()))) == handover
    acks = factory.for_topic("cx.handover-acks", "cxstream.HandoverAck")
    ack = HandoverAck(handover.handover_id, "sam", ms("2026-12-05T13:10:00"), "supervisor", "taken over")
    assert HandoverAck.from_record(acks.decode(acks.encode(ack.record()))) == ack


def test_an_unacknowledged_handover_escalates_once_and_its_acknowledgement_resolves_it() -> None:
    day = shift_at(TEAM, ms("2026-12-05T09:00:00"))
    handover = build_handover(SPEC, TEAM, day, ledger_of_one_shift(), [], ms("2026-12-05T13:02:00"))
    book = HandoverBook()
    book.add(handover)
    assert decide(book.handovers, book.acks, SPEC, ms("2026-12-05T13:20:00")).republish == []  # not due yet
    [(escalated, breach)] = decide(book.handovers, book.acks, SPEC, ms("2026-12-05T13:33:00")).republish
    assert escalated.escalated_ms == ms("2026-12-05T13:33:00") and escalated.version == 1
    assert breach is not None and breach.status is Status.FIRING and breach.kind is BreachKind.HANDOVER
    assert breach.breach_id == breach_id(handover.handover_id) and breach.rule_id == RULE_ID
    assert breach.labels["owner"] == "logistics" and breach.severity is Severity.WARNING and breach.n == 3
    book.add(escalated)
    assert decide(book.handovers, book.acks, SPEC, ms("2026-12-05T13:40:00")).republish == []  # once
    book.acknowledge(HandoverAck(handover.handover_id, "sam", ms("2026-12-05T13:45:00"), "supervisor", "on it"))
    book.acknowledge(HandoverAck(handover.handover_id, "kim", ms("2026-12-05T13:46:00")))  # the first one counts
    assert book.view(handover.handover_id).acknowledged_by == "sam"  # type: ignore[union-attr]
    [(acked, resolved)] = decide(book.handovers, book.acks, SPEC, ms("2026-12-05T13:47:00")).republish
    assert acked.acknowledged_by == "sam" and acked.ack_note == "on it" and acked.version == 2
    assert resolved is not None and resolved.status is Status.RESOLVED and resolved.breach_id == breach.breach_id
    book.add(acked)
    assert decide(book.handovers, book.acks, SPEC, ms("2026-12-05T14:00:00")).republish == []
    assert acked.state(ms("2026-12-05T14:00:00")) == "acknowledged"


def test_an_acknowledgement_in_time_raises_nothing() -> None:
    day = shift_at(TEAM, ms("2026-12-05T09:00:00"))
    handover = build_handover(SPEC, TEAM, day, ShiftLedger(), [], ms("2026-12-05T13:02:00"))
    assert handover.pick_up == () and handover.breaches == () and handover.cases == ()
    book = HandoverBook()
    book.add(handover)
    book.acknowledge(HandoverAck(handover.handover_id, "sam", ms("2026-12-05T13:05:00")))
    [(acked, breach)] = decide(book.handovers, book.acks, SPEC, ms("2026-12-05T13:06:00")).republish
    assert acked.acknowledged_by == "sam" and breach is None


def test_the_ledger_forgets_what_no_handover_needs() -> None:
    ledger = ledger_of_one_shift()
    ledger.forget(ms("2026-12-05T08:30:00"))
    assert set(ledger.breaches) == {"b-new", "b-later"}  # b-old's and billing's records are all older
    assert "case-1" in ledger.cases  # still open
    assert [a.action_id for a in ledger.actions["case-1"]] == []
    assert set(ledger.silences) == {"sil-1", "sil-2"}
    ledger.forget(ms("2026-12-05T12:00:00"))
    assert set(ledger.silences) == {"sil-1"}  # sil-2 ended at 10:00


def test_declared_shifts_are_checked_at_start() -> None:
    import pytest

    with pytest.raises(ValueError, match="HH:MM"):
        TeamShifts.model_validate({"team": "x", "shifts": [{"name": "day", "start": "6am"}]})
    with pytest.raises(ValueError, match="time zone"):
        TeamShifts.model_validate(
            {"team": "x", "time_zone": "Mars/Olympus", "shifts": [{"name": "d", "start": "06:00"}]}
        )
    with pytest.raises(ValueError, match="distinct"):
        TeamShifts.model_validate(
            {"team": "x", "shifts": [{"name": "a", "start": "06:00"}, {"name": "b", "start": "06:00"}]}
        )
    assert timedelta(0) < timedelta(milliseconds=SPEC.ack_within_ms)


def test_a_viewer_sees_no_customer_words_in_a_handover() -> None:
    from cxstream.domain.access.principal import MASK, Principal, Role
    from cxstream.domain.handovers.records import BreachLine
    from cxstream.web.handovers import shown

    day = shift_at(TEAM, ms("2026-12-05T09:00:00"))
    ledger = ShiftLedger()
    hot = _breach("b-hot", Status.FIRING, "2026-12-05T08:00:00")
    ledger.add_breach({**hot, "kind": "HOT_ALERT", "summary": 'Detractor threatens to leave: "I am cancelling"'})
    handover = build_handover(SPEC, TEAM, day, ledger, [], ms("2026-12-05T13:02:00"))
    assert isinstance(handover.breaches[0], BreachLine) and "cancelling" in handover.pick_up[0]
    viewer = shown(handover, Principal("wall", Role.VIEWER), ms("2026-12-05T13:05:00"))
    assert viewer["breaches"][0]["summary"] == MASK  # type: ignore[index, call-overload]
    assert "cancelling" not in json.dumps(viewer) and MASK in viewer["pick_up"][0]  # type: ignore[index]
    analyst = shown(handover, Principal("ana", Role.ANALYST), ms("2026-12-05T13:05:00"))
    assert "cancelling" in json.dumps(analyst)
