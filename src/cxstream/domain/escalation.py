"""From breaches to escalations: the routing dispatcher's alerts are the open breaches, and each notification
it lets out becomes one ``cx.escalations.<team>`` record with a deterministic id."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

from cxstream.domain.routing import Dispatcher, Notification

SEVERITY_ORDER = {"INFO": 0, "WARNING": 1, "CRITICAL": 2}


def alert_labels(breach: Mapping[str, Any]) -> dict[str, str]:
    return {**{str(k): str(v) for k, v in breach["labels"].items()}, "breach_id": str(breach["breach_id"])}


def apply_breach(
    dispatcher: Dispatcher, breach: Mapping[str, Any], alerts: MutableMapping[str, dict[str, str]], now_ms: int
) -> None:
    """Feed one ``cx.breaches`` record to the dispatcher. ``alerts`` remembers each open breach's labels, so a
    severity change replaces the alert instead of resolving it."""
    breach_id = str(breach["breach_id"])
    labels = alert_labels(breach)
    previous = alerts.get(breach_id)
    status = breach["status"]
    if status == "RESOLVED":
        if previous is not None:
            dispatcher.resolve(previous)
            del alerts[breach_id]
        return
    if previous is not None and previous != labels:
        dispatcher.withdraw(previous)
    dispatcher.receive(labels, now_ms)
    alerts[breach_id] = labels


def escalation_record(note: Notification, summaries: Mapping[str, str]) -> dict[str, Any]:
    """The ``cx.escalations.<team>`` record of one notification. The id depends only on the group and the
    time of the notification, so a notification sent again after a crash has the same id."""
    digest = hashlib.sha256(f"{note.receiver}|{note.group_key}|{note.at_ms}".encode()).hexdigest()[:20]
    alerts = note.firing or note.resolved
    severity = max((a.get("severity", "WARNING") for a in alerts), key=lambda s: SEVERITY_ORDER.get(s, 0))
    common = {k: v for k, v in alerts[0].items() if k != "breach_id" and all(a.get(k) == v for a in alerts)}
    breach_ids = sorted(a["breach_id"] for a in alerts if "breach_id" in a)
    lines = [summaries.get(b, b) for b in breach_ids]
    if note.firing:
        summary = "; ".join(lines) + (" (reminder)" if note.repeat else "")
    else:
        summary = "resolved: " + "; ".join(lines)
    return {
        "escalation_id": f"esc-{digest}",
        "receiver": note.receiver,
        "group_key": note.group_key,
        "severity": severity,
        "level": 0,
        "breach_ids": breach_ids,
        "labels": {**common, "status": "firing" if note.firing else "resolved"},
        "created_at": datetime.fromtimestamp(note.at_ms / 1000, UTC),
        "first_event_time": None,
        "summary": summary,
    }
