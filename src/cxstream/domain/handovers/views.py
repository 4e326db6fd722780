"""Handovers as JSON for the API, the page and the command line, and as text for a terminal."""

from __future__ import annotations

from datetime import UTC, datetime

from cxstream.domain.base import Json, JsonObject
from cxstream.domain.handovers.records import Handover


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def handover_json(h: Handover, now_ms: int) -> JsonObject:
    breaches: list[Json] = [
        {"breach_id": b.breach_id, "rule_id": b.rule_id, "kind": b.kind, "severity": b.severity, "status": b.status,
         "opened": b.opened, "resolved": b.resolved, "updates": b.updates, "summary": b.summary}
        for b in h.breaches
    ]  # fmt: skip
    cases: list[Json] = [
        {"case_id": c.case_id, "state": c.state, "severity": c.severity, "assignee": c.assignee,
         "breach_id": c.breach_id, "opened_at": _iso(c.opened_ms), "next_step": c.next_step,
         "next_due_at": _iso(c.next_due_ms), "minutes_left": c.minutes_left, "done": list(c.done)}
        for c in h.cases
    ]  # fmt: skip
    metrics: list[Json] = [
        {"metric": m.metric, "label": m.label, "scope": dict(m.scope), "unit": m.unit, "before": m.before,
         "before_n": m.before_n, "before_low": m.before_low, "before_high": m.before_high, "after": m.after,
         "after_n": m.after_n, "after_low": m.after_low, "after_high": m.after_high, "difference": m.difference,
         "z": m.z}
        for m in h.metrics
    ]  # fmt: skip
    return {
        "handover_id": h.handover_id, "team": h.team, "shift": h.shift, "shift_start": _iso(h.start_ms),
        "shift_end": _iso(h.end_ms), "next_shift": h.next_shift, "published_at": _iso(h.published_ms),
        "ack_due": _iso(h.ack_due_ms), "state": h.state(now_ms), "breaches": breaches, "cases": cases,
        "ladder": [{"case_id": s.case_id, "level": s.level, "notify": s.notify, "at": _iso(s.at_ms)}
                   for s in h.ladder],
        "silences": [{"silence_id": s.silence_id, "matchers": list(s.matchers), "created_by": s.created_by,
                      "comment": s.comment, "starts_at": _iso(s.starts_ms), "ends_at": _iso(s.ends_ms)}
                     for s in h.silences],
        "metrics": metrics, "pick_up": list(h.pick_up), "acknowledged_by": h.acknowledged_by,
        "acknowledged_at": _iso(h.acknowledged_ms), "ack_note": h.ack_note, "escalated_at": _iso(h.escalated_ms),
        "version": h.version,
    }  # fmt: skip


def _hhmm(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _value(value: float | None, unit: str) -> str:
    return "no value" if value is None else f"{value:.1f}{unit if unit == '%' else ' ' + unit}".rstrip()


def handover_text(h: Handover, now_ms: int) -> list[str]:
    lines = [f"{h.team}: {h.shift} shift {_hhmm(h.start_ms)} to {_hhmm(h.end_ms)}, handed to {h.next_shift} "
             f"({h.handover_id}); {h.state(now_ms)}"]  # fmt: skip
    if h.acknowledged_by:
        lines.append(f"  acknowledged by {h.acknowledged_by} at {_hhmm(h.acknowledged_ms or 0)}"
                     + (f": {h.ack_note}" if h.ack_note else ""))  # fmt: skip
    elif h.escalated_ms:
        lines.append(f"  escalated at {_hhmm(h.escalated_ms)} (not acknowledged by {_hhmm(h.ack_due_ms)})")
    else:
        lines.append(f"  to acknowledge by {_hhmm(h.ack_due_ms)}")
    lines.append(f"  pick up ({len(h.pick_up)}):")
    lines.extend(f"    - {item}" for item in h.pick_up or ("nothing open",))
    lines.append(f"  breaches ({len(h.breaches)}):")
    for b in h.breaches:
        what = "opened" if b.opened else "resolved" if b.resolved else "updated"
        lines.append(f"    {b.severity} {b.rule_id} {what}, {b.status.lower()} at the end: {b.summary}")
    lines.append(f"  cases ({len(h.cases)}):")
    for c in h.cases:
        due = ""
        if c.minutes_left is not None:
            left = f"overdue {-c.minutes_left} min" if c.minutes_left < 0 else f"in {c.minutes_left} min"
            due = f", {c.next_step} {left}"
        lines.append(f"    {c.case_id} {c.severity} {c.state.lower()} ({c.assignee or 'unassigned'}{due})")
        lines.extend(f"      {d}" for d in c.done)
    for step in h.ladder:
        lines.append(f"  ladder: {step.case_id} level {step.level} paged {step.notify} at {_hhmm(step.at_ms)}")
    for s in h.silences:
        lines.append(f"  silence {s.silence_id} by {s.created_by} until {_hhmm(s.ends_ms)}: {', '.join(s.matchers)} "
                     f"({s.comment})")  # fmt: skip
    lines.append(f"  metrics that moved most ({len(h.metrics)}):")
    for m in h.metrics:
        scope = ", ".join(f"{k}={v}" for k, v in m.scope.items()) or "over all"
        lines.append(f"    {m.label} ({scope}): {_value(m.before, m.unit)} (n={m.before_n}, 95 % CI "
                     f"{_value(m.before_low, '')} to {_value(m.before_high, '')}) -> "
                     f"{_value(m.after, m.unit)} (n={m.after_n}, 95 % CI {_value(m.after_low, '')} to "
                     f"{_value(m.after_high, '')})" + (f", z {m.z:+.1f}" if m.z is not None else ""))  # fmt: skip
    return lines
