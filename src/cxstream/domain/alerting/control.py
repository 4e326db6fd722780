"""The messages on the routing side's internal control topic, one typed value per kind and one JSON encoding
(``{"kind": ..., ...}``): clock ticks, hot alerts, case acknowledgements, SLA lapses, silences and agents'
status changes (for the staffing gaps). The agents
that feed the routing desk encode them here; the routing agent decodes them here and nowhere else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeAlias

from cxstream.domain.alerting.desk import TAKING_ACTIONS, Lapse
from cxstream.domain.alerting.hot_alerts import HotAlert
from cxstream.domain.alerting.routing import Silence
from cxstream.domain.base import Json, StoredValueError, as_int, as_str, obj
from cxstream.domain.cases.machine import Action, ActionType
from cxstream.domain.workforce.presence import Presence


@dataclass(frozen=True)
class Tick:
    """Time to evaluate the threshold rules on the windows that ended, and to send what is due."""

    at_ms: int


@dataclass(frozen=True)
class HotInput:
    alert: HotAlert


@dataclass(frozen=True)
class AckInput:
    """Someone took (or ended) the case of a breach."""

    case_id: str
    actor: str
    at_ms: int
    action: ActionType


@dataclass(frozen=True)
class OverdueInput:
    lapse: Lapse


@dataclass(frozen=True)
class SilenceInput:
    silence: Silence


@dataclass(frozen=True)
class PresenceInput:
    """An agent's status on a channel changed (from an ``AGENT_STATUS`` event)."""

    presence: Presence


ControlMessage: TypeAlias = Tick | HotInput | AckInput | OverdueInput | SilenceInput | PresenceInput


def kind_of(message: ControlMessage) -> str:
    """The ``kind`` the message travels under (also the label of ``cxstream_alerting_inputs_total``)."""
    match message:
        case Tick():
            return "tick"
        case HotInput():
            return "hot"
        case AckInput():
            return "ack"
        case OverdueInput():
            return "overdue"
        case SilenceInput():
            return "silence"
        case PresenceInput():
            return "presence"


def _fields(message: ControlMessage) -> dict[str, Json]:
    match message:
        case Tick(at_ms):
            return {"at_ms": at_ms}
        case HotInput(alert):
            return {"alert": alert.to_json()}
        case AckInput(case_id, actor, at_ms, action):
            return {"case_id": case_id, "actor": actor, "at_ms": at_ms, "action": action.value}
        case OverdueInput(lapse):
            return {"lapse": lapse.to_json()}
        case SilenceInput(silence):
            return {"silence": silence.to_json()}
        case PresenceInput(presence):
            return {"presence": presence.to_json()}


def encode(message: ControlMessage) -> bytes:
    return json.dumps({"kind": kind_of(message), **_fields(message)}, separators=(",", ":")).encode()


def peek_kind(data: bytes) -> str:
    """The kind a raw message claims, for counting one that does not decode; ``unknown`` when none."""
    try:
        value = json.loads(data)
    except ValueError:
        return "unknown"
    return str(value.get("kind")) if isinstance(value, dict) else "unknown"


def decode(data: bytes) -> ControlMessage:
    """One control message; :class:`StoredValueError` (a ``ValueError``) names what is wrong with it."""
    try:
        value = obj(json.loads(data), "control message")
    except json.JSONDecodeError as exc:
        raise StoredValueError(f"control message is not JSON: {exc}") from exc
    kind = value.get("kind")
    try:
        if kind == "tick":
            return Tick(as_int(value["at_ms"], "at_ms"))
        if kind == "hot":
            return HotInput(HotAlert.from_json(value["alert"]))
        if kind == "ack":
            return AckInput(as_str(value["case_id"], "case_id"), as_str(value["actor"], "actor"),
                            as_int(value["at_ms"], "at_ms"), ActionType(as_str(value["action"], "action")))  # fmt: skip
        if kind == "overdue":
            return OverdueInput(Lapse.from_json(value["lapse"]))
        if kind == "silence":
            return SilenceInput(Silence.from_json(value["silence"]))
        if kind == "presence":
            return PresenceInput(Presence.from_json(value["presence"]))
    except KeyError as exc:
        raise StoredValueError(f"control message {kind!r} lacks {exc}") from exc
    raise StoredValueError(f"unknown control message kind {kind!r}")


def from_case_action(action: Action) -> AckInput | OverdueInput | None:
    """What an accepted case action tells the routing desk: taking the case stops its breach's ladder
    (resolving or closing a hot alert's case also ends the alert), a missed SLA step of an escalated breach
    makes the ladder climb; any other action, nothing. Sent again when the action is replayed after a crash:
    the desk takes each once."""
    if action.action in TAKING_ACTIONS:
        return AckInput(action.case_id, action.actor, action.at_ms, action.action)
    if action.action is ActionType.OVERDUE and action.breach_id and action.team:
        return OverdueInput(Lapse.of(action))
    return None
