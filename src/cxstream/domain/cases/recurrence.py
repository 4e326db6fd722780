"""Recurring complaints: a case is recurring when the same customer, or the same driver at the same site, had
another case opened within the policy's window (``followup.cases.recurring_within``).

The index is keyed by subject (``customer:<id>``, ``driver:<agent id>@<site>``), so it lives apart from the
cases table (keyed by case id): each opened case is sent to the index once per subject, and the index answers
with a FLAG_RECURRING action for the case when it finds an earlier one. A recurring case closes only with a
supervisor's documented action (:mod:`cxstream.domain.cases.machine`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cxstream.domain.base import Json, as_int, as_str, digest, seq
from cxstream.domain.cases.machine import DONE, Action, ActionType, Case, action_record

RECURRENCE = "system:recurrence"


def subjects(case: Case) -> list[str]:
    """What the case is about that can recur: its customer, its driver (agent) at its site."""
    labels = case.labels
    found = []
    if labels.get("customer_id"):
        found.append(f"customer:{labels['customer_id']}")
    if labels.get("agent_id") and labels.get("site"):
        found.append(f"driver:{labels['agent_id']}@{labels['site']}")
    return found


@dataclass(frozen=True)
class SubjectCase:
    """One case of a subject in the recurrence index. Stored as ``[case id, opened ms]``."""

    case_id: str
    opened_ms: int

    def to_json(self) -> list[Json]:
        return [self.case_id, self.opened_ms]

    @classmethod
    def from_json(cls, data: object) -> SubjectCase:
        case_id, opened_ms = seq(data, "subject case")[:2]
        return cls(as_str(case_id), as_int(opened_ms))


def history_to_json(history: Sequence[SubjectCase]) -> list[Json]:
    return [entry.to_json() for entry in history]


def history_from_json(data: object) -> list[SubjectCase]:
    return [SubjectCase.from_json(entry) for entry in seq(data, "subject history")]


def remember(
    history: Sequence[SubjectCase], case_id: str, opened_ms: int, window_ms: int
) -> tuple[list[SubjectCase], list[str]]:
    """The subject's history with this case added, and the other cases opened within ``window_ms`` of it.
    Entries older than the window (from the newest case) are dropped; a case seen again changes nothing."""
    entries = list(history)
    earlier = sorted({e.case_id for e in entries if e.case_id != case_id and abs(opened_ms - e.opened_ms) <= window_ms})
    if case_id not in {e.case_id for e in entries}:
        entries.append(SubjectCase(case_id, opened_ms))
    newest = max(e.opened_ms for e in entries)
    return sorted((e for e in entries if newest - e.opened_ms <= window_ms), key=lambda e: e.opened_ms), earlier


def flag_action(case_id: str, subject: str, earlier: Sequence[str], at_ms: int, within: str) -> dict[str, object]:
    """The ``cx.case-actions`` record that flags ``case_id`` recurring (same id for the same finding)."""
    kind, _, who = subject.partition(":")
    what = "the same customer" if kind == "customer" else "the same driver at the same site"
    action_digest = digest(f"recurring|{case_id}|{subject}")
    action = Action(
        action_id=f"act-{action_digest}",
        case_id=case_id,
        action=ActionType.FLAG_RECURRING,
        actor=RECURRENCE,
        at_ms=at_ms,
        comment=f"{what} ({who}) again within {within}: {', '.join(earlier)}",
        labels={"subject": kind, "earlier": ",".join(earlier)},
    )
    return action_record(action)


def subject_messages(case: Case) -> list[tuple[str, Mapping[str, object]]]:
    """(key, value) of what the cases side tells the index when a case opens."""
    return [(s, {"subject": s, "case_id": case.case_id, "opened_ms": case.opened_ms}) for s in subjects(case)]


@dataclass(frozen=True)
class CaseEffects:
    """What else must hear of a case change: the contact policy when the customer's open-case status changed
    (no survey invites while a case is open), the recurrence index of each subject when the case is new."""

    tell_contacts: bool
    subjects: tuple[tuple[str, Mapping[str, object]], ...]


def effects(before: Case | None, after: Case) -> CaseEffects:
    opened_or_ended = before is None or (before.state in DONE) != (after.state in DONE)
    return CaseEffects(opened_or_ended, tuple(subject_messages(after)) if before is None else ())
