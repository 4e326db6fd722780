"""What happened on the routing side, folded from its topics, so a shift's handover can be written: every breach
record (``cx.breaches``), the newest state of each case (``cx.cases``), every case action (``cx.case-actions``)
and the silences (``cx.silences``). Kept for ``RETAIN_MS`` (two days: longer than any shift and the one before)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cxstream.domain.alerting.routing import Silence
from cxstream.domain.alerting.silences import silence_from_record
from cxstream.domain.base import as_str, opt_str, text_map, to_ms
from cxstream.domain.base import as_time as _time
from cxstream.domain.cases.machine import DONE, Action, Case, action_from_record, case_from_record

RETAIN_MS = 2 * 86_400_000


@dataclass(frozen=True)
class BreachEvent:
    breach_id: str
    rule_id: str
    kind: str
    severity: str
    status: str
    owner: str | None
    summary: str
    at_ms: int

    @classmethod
    def of(cls, record: Mapping[str, object]) -> BreachEvent:
        labels = text_map(record.get("labels"))
        return cls(as_str(record["breach_id"]), as_str(record["rule_id"]), as_str(record["kind"]),
                   as_str(record["severity"]), as_str(record["status"]), labels.get("owner"),
                   as_str(record.get("summary", "")), to_ms(_time(record["updated_at"])))  # fmt: skip


@dataclass(frozen=True)
class SilenceNote:
    silence: Silence
    added_ms: int  # when cxstream first saw it (its first record's updated_at)
    expired_by: str | None = None

    def concerns(self, team: str) -> bool:
        """A silence whose matchers test the owner concerns the teams they match; the others concern everybody."""
        owners = [m for m in self.silence.matchers if m.label == "owner"]
        return all(m.matches({"owner": team}) for m in owners)


@dataclass
class ShiftLedger:
    breaches: dict[str, list[BreachEvent]] = field(default_factory=dict)
    cases: dict[str, Case] = field(default_factory=dict)
    actions: dict[str, list[Action]] = field(default_factory=dict)  # per case, in arrival order
    silences: dict[str, SilenceNote] = field(default_factory=dict)

    def add_breach(self, record: Mapping[str, object]) -> None:
        event = BreachEvent.of(record)
        events = self.breaches.setdefault(event.breach_id, [])
        if event not in events:  # a record read twice (a replay) counts once
            events.append(event)

    def add_case(self, record: Mapping[str, object]) -> None:
        case = case_from_record(record)
        held = self.cases.get(case.case_id)
        if held is None or case.version >= held.version:
            self.cases[case.case_id] = case

    def add_action(self, record: Mapping[str, object]) -> None:
        action = action_from_record(record)
        actions = self.actions.setdefault(action.case_id, [])
        if all(a.action_id != action.action_id for a in actions):
            actions.append(action)

    def add_silence(self, record: Mapping[str, object]) -> None:
        silence = silence_from_record(record)
        held = self.silences.get(silence.id)
        added = held.added_ms if held is not None else to_ms(_time(record["updated_at"]))
        expired_by = opt_str(record.get("updated_by")) if held is not None else None
        self.silences[silence.id] = SilenceNote(silence, added, expired_by)

    def forget(self, before_ms: int) -> None:
        """Drops what no handover from now on can need: records older than ``before_ms`` and cases done before."""
        for breach_id in list(self.breaches):
            kept = [e for e in self.breaches[breach_id] if e.at_ms >= before_ms]
            if kept:
                self.breaches[breach_id] = kept
            else:
                del self.breaches[breach_id]
        for case_id, case in list(self.cases.items()):
            if case.state in DONE and case.updated_ms < before_ms:
                del self.cases[case_id]
                self.actions.pop(case_id, None)
        for case_id in list(self.actions):
            self.actions[case_id] = [a for a in self.actions[case_id] if a.at_ms >= before_ms]
        for silence_id, note in list(self.silences.items()):
            if note.silence.ends_ms < before_ms:
                del self.silences[silence_id]
