"""A shift's handover from the ledger: what the team's breaches, cases, ladders and silences did during the shift,
the metrics that moved most, and what the next shift must pick up.

- **breaches**: the team's (owner label) with a record during the shift: opened, updated, resolved, and their
  status at the shift's end;
- **cases**: the team's cases still open at the shift's end, and those that changed during it, with the assignee,
  the next SLA step and the minutes left to it (negative: overdue), and what was done during the shift;
- **ladder**: escalation steps that paged during the shift;
- **silences**: added during the shift (those that name another team's owner are left out);
- **metrics**: the team's metrics that moved most against the shift before (given by the caller, from the live
  tables);
- **pick up**: breaches still firing, cases not done with their next step and time, silences that end during
  the next shift.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from cxstream.domain.cases.machine import DONE, ActionType, Case, CaseState
from cxstream.domain.handovers.ledger import ShiftLedger
from cxstream.domain.handovers.records import BreachLine, CaseLine, Handover, LadderLine, MetricMove, SilenceLine
from cxstream.domain.handovers.spec import HandoverSpec, ShiftWindow, TeamShifts, shift_at


def _hhmm(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M UTC")


def next_step(case: Case) -> tuple[str | None, int | None]:
    """The SLA step the case waits for and when it is due: acknowledge, contain, resolve, follow up, and once it is
    resolved, a linked investigation that has not concluded."""
    if case.state in (CaseState.OPEN, CaseState.REOPENED):
        return "acknowledge", case.acknowledge_due_ms
    if case.state in (CaseState.ACKNOWLEDGED, CaseState.ACTION_DOCUMENTED):
        if case.contain_due_ms is not None and case.contained_ms is None:
            return "contain", case.contain_due_ms
        return "resolve", case.resolve_due_ms
    if case.state is CaseState.RESOLVED and case.follow_up_due_ms is not None and case.follow_up_outcome is None:
        return "follow_up", case.follow_up_due_ms
    if _investigating(case):
        return "investigate", case.investigation_due_ms
    return None, None


def _investigating(case: Case) -> bool:
    return case.investigation_item is not None and case.investigation_concluded_ms is None


def _breaches(ledger: ShiftLedger, team: str, w: ShiftWindow) -> list[BreachLine]:
    out = []
    for events in ledger.breaches.values():
        mine = [e for e in events if e.owner == team]
        during = [e for e in mine if w.start_ms <= e.at_ms < w.end_ms]
        if not during:
            continue
        last = max((e for e in mine if e.at_ms < w.end_ms), key=lambda e: e.at_ms)
        out.append(BreachLine(last.breach_id, last.rule_id, last.kind, last.severity, last.status,
                              any(e.status == "FIRING" for e in during) and min(e.at_ms for e in mine) >= w.start_ms,
                              any(e.status == "RESOLVED" for e in during), len(during), last.summary))  # fmt: skip
    out.sort(key=lambda b: (b.status == "RESOLVED", b.severity != "CRITICAL", b.breach_id))
    return out


def _done(ledger: ShiftLedger, case_id: str, w: ShiftWindow) -> tuple[str, ...]:
    lines = []
    for a in ledger.actions.get(case_id, []):
        if not w.start_ms <= a.at_ms < w.end_ms or a.action is ActionType.ESCALATE:
            continue
        detail = a.action_taken or a.comment or a.assignee or a.outcome
        lines.append(f"{_hhmm(a.at_ms)} {a.action.value} by {a.actor}" + (f": {detail}" if detail else ""))
    return tuple(lines)


def _cases(ledger: ShiftLedger, team: str, w: ShiftWindow) -> list[CaseLine]:
    out = []
    for case in ledger.cases.values():
        if case.team != team or case.opened_ms >= w.end_ms:
            continue
        done = _done(ledger, case.case_id, w)
        touched = bool(done) or w.start_ms <= case.updated_ms < w.end_ms
        if case.state in DONE and not touched and not _investigating(case):
            continue  # closed before the shift and untouched by it, with no investigation open
        step, due = next_step(case)
        left = None if due is None else (due - w.end_ms) // 60_000
        out.append(CaseLine(case.case_id, case.state.value, case.severity, case.assignee, case.breach_id,
                            case.opened_ms, step, due, left, done))  # fmt: skip
    out.sort(key=lambda c: (c.minutes_left is None, c.minutes_left if c.minutes_left is not None else 0, c.case_id))
    return out


def _ladder(ledger: ShiftLedger, team: str, w: ShiftWindow) -> list[LadderLine]:
    out = []
    for case_id, actions in ledger.actions.items():
        case = ledger.cases.get(case_id)
        if case is None or case.team != team:
            continue
        for a in actions:
            if a.action is ActionType.ESCALATE and w.start_ms <= a.at_ms < w.end_ms:
                level = int(a.labels.get("level", "0") or 0)
                out.append(LadderLine(case_id, level, a.labels.get("notify", a.actor), a.at_ms))
    return sorted(out, key=lambda s: (s.at_ms, s.case_id))


def _silences(ledger: ShiftLedger, team: str, w: ShiftWindow) -> list[SilenceLine]:
    added = [n.silence for n in ledger.silences.values() if w.start_ms <= n.added_ms < w.end_ms and n.concerns(team)]
    return sorted((SilenceLine(s.id, tuple(str(m) for m in s.matchers), s.created_by, s.comment, s.starts_ms,
                               s.ends_ms) for s in added), key=lambda s: s.starts_ms)  # fmt: skip


def _pick_up(breaches: Sequence[BreachLine], cases: Sequence[CaseLine], ledger: ShiftLedger, team: str,
             w: ShiftWindow, next_end_ms: int) -> tuple[str, ...]:  # fmt: skip
    lines = [f"{b.severity} {b.rule_id} still firing: {b.summary}" for b in breaches if b.status != "RESOLVED"]
    for c in cases:
        if c.next_step is None or c.minutes_left is None:
            continue
        when = f"overdue by {-c.minutes_left} min" if c.minutes_left < 0 else f"due in {c.minutes_left} min"
        who = f", with {c.assignee}" if c.assignee else ", unassigned"
        lines.append(f"case {c.case_id} ({c.severity}, {c.state.lower()}{who}): {c.next_step.replace('_', '-')} {when}")
    for note in ledger.silences.values():
        s = note.silence
        if note.concerns(team) and w.end_ms <= s.ends_ms < next_end_ms and note.expired_by is None:
            lines.append(f"silence {s.id} ({', '.join(str(m) for m in s.matchers)}) ends at {_hhmm(s.ends_ms)}")
    return tuple(lines)


def build_handover(spec: HandoverSpec, team: TeamShifts, w: ShiftWindow, ledger: ShiftLedger,
                   metrics: Sequence[MetricMove], now_ms: int) -> Handover:  # fmt: skip
    following = shift_at(team, w.end_ms)
    breaches = _breaches(ledger, team.team, w)
    cases = _cases(ledger, team.team, w)
    return Handover(
        handover_id=w.handover_id, team=team.team, shift=w.shift, start_ms=w.start_ms, end_ms=w.end_ms,
        next_shift=following.shift, published_ms=now_ms, ack_due_ms=now_ms + spec.ack_within_ms,
        breaches=tuple(breaches), cases=tuple(cases), ladder=tuple(_ladder(ledger, team.team, w)),
        silences=tuple(_silences(ledger, team.team, w)), metrics=tuple(metrics),
        pick_up=_pick_up(breaches, cases, ledger, team.team, w, following.end_ms),
    )  # fmt: skip
