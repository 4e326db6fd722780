"""Silences as records on ``cx.silences``: made by ``cxstream silence add``, ended early by ``silence
expire`` (the same id sent again with its new end), listed from the topic (the latest record of an id wins)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial

from cxstream.domain.access.principal import MASK, PII_FIELDS, Principal
from cxstream.domain.alerting.matchers import Matcher, parse_all
from cxstream.domain.alerting.routing import Silence, check_known_values
from cxstream.domain.base import JsonObject, Record, as_str, as_time, digest, seq, to_ms


class SilenceState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


def _ms(at: datetime) -> int:
    return to_ms(at)


def new_silence(matchers: Iterable[str], starts: datetime, ends: datetime, created_by: str, comment: str) -> Silence:
    """Raises ValueError for a bad matcher, an end before the start, or a missing author or reason."""
    parsed = parse_all(matchers)
    check_known_values(parsed)
    text = "|".join([*(str(m) for m in parsed), str(_ms(starts)), str(_ms(ends)), created_by, comment])
    silence_id = "sil-" + digest(text, 12)
    return Silence(silence_id, parsed, _ms(starts), _ms(ends), created_by.strip(), comment.strip())


def silence_record(silence: Silence, updated_at: datetime, updated_by: str | None = None) -> Record:
    """The ``cx.silences`` record (schema ``cxstream.Silence``)."""
    return {
        "silence_id": silence.id,
        "matchers": [str(m) for m in silence.matchers],
        "starts_at": datetime.fromtimestamp(silence.starts_ms / 1000, UTC),
        "ends_at": datetime.fromtimestamp(silence.ends_ms / 1000, UTC),
        "created_by": silence.created_by,
        "comment": silence.comment,
        "updated_at": updated_at,
        "updated_by": updated_by,
    }


def silence_from_record(record: Mapping[str, object]) -> Silence:
    return Silence(
        id=as_str(record["silence_id"], "silence_id"),
        matchers=tuple(Matcher.parse(str(m)) for m in seq(record["matchers"], "matchers")),
        starts_ms=_ms(as_time(record["starts_at"], "starts_at")),
        ends_ms=_ms(as_time(record["ends_at"], "ends_at")),
        created_by=as_str(record["created_by"], "created_by"),
        comment=as_str(record["comment"], "comment"),
    )


def expired(record: Mapping[str, object], now: datetime, by: str) -> Record:
    """The record that ends a silence now (a silence that has not started yet ends at its start)."""
    starts = as_time(record["starts_at"], "starts_at")
    ends = max(starts, min(as_time(record["ends_at"], "ends_at"), now))
    if ends == starts:  # a silence must end after it starts: a pending one is cut to one millisecond
        ends = datetime.fromtimestamp((_ms(starts) + 1) / 1000, UTC)
    return {**record, "ends_at": ends, "updated_at": now, "updated_by": by}


def latest(records: Iterable[Mapping[str, object]]) -> dict[str, Record]:
    """The current record of each silence id, from the topic in offset order."""
    out: dict[str, Record] = {}
    for record in records:
        out[str(record["silence_id"])] = dict(record)
    return out


def state_of(silence: Silence, now: datetime) -> SilenceState:
    at = _ms(now)
    if at < silence.starts_ms:
        return SilenceState.PENDING
    return SilenceState.ACTIVE if at < silence.ends_ms else SilenceState.EXPIRED


#: A token's scope dimensions and the alert labels that carry them (breaches name their team ``owner``).
SCOPE_LABELS = {"region": "region", "team": "owner"}


def concerns(silence: Silence, dimension: str, value: str) -> bool:
    """Whether the silence can mute an alert of this region or team (its matchers on that label allow it)."""
    label = SCOPE_LABELS[dimension]
    return all(m.matches({label: value}) for m in silence.matchers if m.label == label)


def visible_silences(principal: Principal, silences: Iterable[Silence]) -> list[JsonObject]:
    """The silences in the principal's scope (those that can mute one of its regions and teams), as the API
    shows them: without personal-data permission, matchers on customer ids and the comment are masked."""
    shown: list[JsonObject] = []
    for silence in silences:
        if not principal.reaches(partial(concerns, silence)):
            continue
        row = silence.to_json()
        if not principal.sees_pii:
            row["matchers"] = [f"{m.label}{m.op.value}{MASK}" if m.label in PII_FIELDS else str(m)
                               for m in silence.matchers]  # fmt: skip
            row["comment"] = MASK
        shown.append(row)
    return shown
