"""The routing side's control messages: one typed value per kind, and the JSON they travel as is the one the
routing agent has always read (so workers of both versions agree during a rolling upgrade)."""

from __future__ import annotations

import json

import pytest

from cxstream.domain.alerting import control
from cxstream.domain.alerting.control import AckInput, HotInput, OverdueInput, SilenceInput, Tick
from cxstream.domain.alerting.desk import Lapse
from cxstream.domain.alerting.severity import Severity
from cxstream.domain.alerting.silences import new_silence
from cxstream.domain.base import StoredValueError
from cxstream.domain.cases.machine import ActionType
from tests.unit.test_escalation import hot
from tests.unit.test_hot_alerts import at


def test_each_kind_travels_as_its_documented_json_and_reads_back_the_same() -> None:
    lapse = Lapse("case-1", "br-1", "acknowledge", 600_000, "logistics", Severity.CRITICAL, {"region": "emea"})
    silence = new_silence(["region=emea"], at(0), at(3_600_000), "m.jansen", "carrier strike")
    expected = [
        (Tick(1_000), {"kind": "tick", "at_ms": 1_000}),
        (AckInput("case-1", "j.devries", 2_000, ActionType.ACKNOWLEDGE), {
            "kind": "ack", "case_id": "case-1", "actor": "j.devries", "at_ms": 2_000, "action": "ACKNOWLEDGE"}),
        (OverdueInput(lapse), {"kind": "overdue", "lapse": {
            "case_id": "case-1", "breach_id": "br-1", "step": "acknowledge", "due_ms": 600_000, "team": "logistics",
            "severity": "CRITICAL", "labels": {"region": "emea"}}}),
        (HotInput(hot(at_ms=5_000)), {"kind": "hot", "alert": hot(at_ms=5_000).to_json()}),
        (SilenceInput(silence), {"kind": "silence", "silence": silence.to_json()}),
    ]  # fmt: skip
    for message, wire in expected:
        data = control.encode(message)
        assert json.loads(data) == wire
        assert control.decode(data) == message
        assert control.peek_kind(data) == wire["kind"] == control.kind_of(message)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "expected an object"),
        (b'{"kind": "reboot"}', "unknown control message kind 'reboot'"),
        (b'{"kind": "tick"}', "lacks 'at_ms'"),
        (b'{"kind": "ack", "case_id": "c", "actor": "a", "at_ms": "soon", "action": "ACKNOWLEDGE"}', "soon"),
    ],
)
def test_a_malformed_message_says_what_is_wrong(data: bytes, reason: str) -> None:
    with pytest.raises(StoredValueError, match=reason):
        control.decode(data)
    assert control.peek_kind(b"not json") == "unknown"


def test_which_case_actions_reach_the_routing_desk() -> None:
    from cxstream.domain.cases.machine import Action

    def action(kind: ActionType, **extra: object) -> Action:
        return Action(f"act-{kind.value}", "case-1", kind, "j.devries", 5_000, **extra)  # type: ignore[arg-type]

    for taking in (ActionType.ACKNOWLEDGE, ActionType.DOCUMENT_ACTION, ActionType.RESOLVE, ActionType.CLOSE):
        assert control.from_case_action(action(taking)) == AckInput("case-1", "j.devries", 5_000, taking)
    overdue = action(ActionType.OVERDUE, comment="acknowledge", breach_id="br-1", team="logistics",
                     severity="CRITICAL", labels={"region": "emea"})  # fmt: skip
    assert control.from_case_action(overdue) == OverdueInput(
        Lapse("case-1", "br-1", "acknowledge", 5_000, "logistics", Severity.CRITICAL, {"region": "emea"})
    )
    assert control.from_case_action(action(ActionType.OVERDUE, comment="acknowledge")) is None  # no breach, no team
    for other in (ActionType.COMMENT, ActionType.ASSIGN, ActionType.ESCALATE, ActionType.REOPEN):
        assert control.from_case_action(action(other)) is None
