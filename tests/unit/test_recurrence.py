"""The recurrence index: subjects of a case, the window, and the flag action it answers with."""

from __future__ import annotations

from cxstream.domain.cases.machine import Action, ActionType, CasePolicy, action_from_record, apply
from cxstream.domain.cases.recurrence import (
    SubjectCase,
    flag_action,
    history_from_json,
    history_to_json,
    remember,
    subject_messages,
    subjects,
)

D = 24 * 3_600_000


def case(labels: dict[str, str], case_id: str = "case-1", at: int = 0):  # type: ignore[no-untyped-def]
    opening = Action("act-o", case_id, ActionType.OPEN, "system:routing", at, team="logistics", labels=labels)
    return apply(None, opening, CasePolicy())


def test_a_case_is_about_its_customer_and_its_driver_at_its_site() -> None:
    assert subjects(case({"customer_id": "C-7", "agent_id": "D-12", "site": "ams-1"})) == [
        "customer:C-7", "driver:D-12@ams-1",
    ]  # fmt: skip
    assert subjects(case({"agent_id": "D-12"})) == []  # a driver without a site is not a subject
    assert subjects(case({"region": "emea"})) == []
    [(key, value)] = subject_messages(case({"customer_id": "C-7"}, at=5))
    assert key == "customer:C-7" and value == {"subject": "customer:C-7", "case_id": "case-1", "opened_ms": 5}


def test_another_case_within_the_window_makes_it_recurring() -> None:
    history, earlier = remember([], "case-1", 0, 30 * D)
    assert earlier == [] and history == [SubjectCase("case-1", 0)]
    history, earlier = remember(history, "case-2", 29 * D, 30 * D)
    assert earlier == ["case-1"]
    history, earlier = remember(history, "case-2", 29 * D, 30 * D)  # the same case again: nothing new
    assert earlier == ["case-1"] and len(history) == 2
    history, earlier = remember(history, "case-3", 58 * D, 30 * D)
    assert earlier == ["case-2"] and history == [SubjectCase("case-2", 29 * D), SubjectCase("case-3", 58 * D)]
    assert history_to_json(history) == [["case-2", 29 * D], ["case-3", 58 * D]]  # as the table held it before
    assert history_from_json(history_to_json(history)) == history  # case-1 aged out
    _, earlier = remember(history, "case-4", 100 * D, 30 * D)
    assert earlier == []


def test_the_flag_is_an_action_the_state_machine_takes_once() -> None:
    record = flag_action("case-2", "driver:D-12@ams-1", ["case-1"], 7, "30d")
    assert record == flag_action("case-2", "driver:D-12@ams-1", ["case-1"], 9, "30d") | {"at": record["at"]}
    flagged = apply(case({}, "case-2"), action_from_record(record), CasePolicy())
    assert flagged.recurring and "same driver at the same site (D-12@ams-1) again within 30d: case-1" in str(
        record["comment"]
    )
    assert apply(flagged, action_from_record(record), CasePolicy()) == flagged
