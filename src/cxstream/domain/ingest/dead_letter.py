"""Dead-letter records: what could not be processed, why, and the original bytes, nothing dropped."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cxstream.domain.base import (
    Record,
    StoredValueError,
    as_int,
    as_str,
    as_time,
    obj,
    opt_int,
    opt_str,
    opt_time,
    seq,
    to_ms,
)


class Stage(StrEnum):
    """Where a record was refused; the same symbols as the DeadLetterStage Avro enum."""

    DECODE = "DECODE"
    NORMALIZE = "NORMALIZE"
    VALIDATE = "VALIDATE"
    LATE = "LATE"
    PROCESS = "PROCESS"
    OTHER = "OTHER"


@dataclass(frozen=True)
class Reason:
    rule_id: str
    message: str


@dataclass(frozen=True)
class SourcePosition:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None

    @property
    def id(self) -> str:
        """Stable id: the same input record always dead-letters under the same id."""
        return f"{self.topic}/{self.partition}/{self.offset}"


MAX_REASON_CHARS = 2000
MAX_REASONS = 100
#: Bytes of a dead letter that are neither the original's bytes nor the reasons: ids, topic names, times, Avro
#: lengths and the Kafka record's own framing. Generous: a dead letter must fit, always.
FRAMING_BYTES = 4096
TRUNCATED = "dead_letter.truncated"


@dataclass(frozen=True)
class Fitted:
    """The part of an original record a dead letter carries (all of it, unless it does not fit)."""

    key: bytes | None
    value: bytes
    headers: Mapping[str, bytes]
    original_size: int | None = None  # set when the value was cut
    original_sha256: str | None = None
    note: Reason | None = None  # what was left out, and where the whole record is


def fit(value: bytes, key: bytes | None, headers: Mapping[str, bytes], room: int, position: SourcePosition) -> Fitted:
    """The original within ``room`` bytes: whole when it fits; otherwise its headers when they take at most half
    of the room, its key cut to a quarter, and the first bytes of its value, with its size and digest, and a note
    naming the source position the whole record can be read again from."""
    header_bytes = sum(len(k.encode()) + len(v) + 10 for k, v in headers.items())
    if len(value) + len(key or b"") + header_bytes <= room:
        return Fitted(key, value, headers)
    kept_headers = headers if header_bytes <= room // 2 else {}
    kept_key = None if key is None else key[: room // 4]
    used = (header_bytes if kept_headers else 0) + len(kept_key or b"")
    kept_value = value[: max(0, room - used)]
    sha = hashlib.sha256(value).hexdigest()
    left_out = []
    if kept_headers is not headers:
        left_out.append(f"its {len(headers)} headers ({header_bytes} bytes)")
    if key is not None and kept_key != key:
        left_out.append(f"all but the first {len(kept_key or b'')} bytes of its {len(key)}-byte key")
    note = Reason(
        TRUNCATED,
        f"the record ({len(value)} bytes) does not fit in a dead letter: its first {len(kept_value)} bytes are kept"
        + (f", and {' and '.join(left_out)} left out" if left_out else "")
        + f"; sha256 of the whole value {sha}; the whole record is at {position.id} while the topic retains it",
    )
    return Fitted(kept_key, kept_value, kept_headers, len(value), sha, note)


def _size(reason: Reason) -> int:
    return len(reason.rule_id.encode()) + len(reason.message.encode()) + 10


def dead_letter_record(
    *,
    source: str,
    stage: Stage,
    reasons: Iterable[Reason],
    position: SourcePosition,
    value: bytes | None,
    key: bytes | None,
    headers: Mapping[str, bytes],
    now_ms: int,
    event_id: str | None = None,
    max_bytes: int | None = None,
) -> Record:
    """A record of the DeadLetter schema. Reason texts are capped (and their number); the original bytes are kept
    whole unless the dead letter would exceed ``max_bytes`` (the dead-letter topic's limit): then see :func:`fit`."""
    given = list(reasons)
    if not given:
        raise ValueError("a dead letter needs at least one reason")
    budget = MAX_REASONS if max_bytes is None else max(1, max_bytes // 4)  # reasons take at most a quarter
    listed: list[Reason] = []
    used = 0
    for reason in given[:MAX_REASONS]:
        capped = Reason(reason.rule_id, reason.message[:MAX_REASON_CHARS])
        used += _size(capped) if max_bytes is not None else 1
        if listed and used > budget:
            break
        listed.append(capped)
    if len(listed) < len(given):
        listed.append(Reason("dead_letter.reasons", f"{len(given) - len(listed)} more reasons left out"))
    original = value if value is not None else b""
    if max_bytes is None:
        fitted = Fitted(key, original, headers)
    else:
        reason_bytes = sum(_size(r) for r in listed)
        ids = len(source) + 2 * len(position.id) + len(event_id or "")
        room = max_bytes - FRAMING_BYTES - reason_bytes - ids - MAX_REASON_CHARS * 2  # the note's room too
        fitted = fit(original, key, headers, room, position)
        if fitted.note is not None:
            listed.append(fitted.note)
    return {
        "dead_letter_id": position.id,
        "source": source,
        "stage": stage.value,
        "reasons": [{"rule_id": r.rule_id, "message": r.message} for r in listed],
        "source_topic": position.topic,
        "source_partition": position.partition,
        "source_offset": position.offset,
        "source_timestamp": position.timestamp_ms,
        "original_key": fitted.key,
        "original_value": fitted.value,
        "original_headers": dict(fitted.headers),
        "first_seen_at": now_ms,
        "event_id": event_id,
        "original_size": fitted.original_size,
        "original_sha256": fitted.original_sha256,
    }


@dataclass(frozen=True)
class DeadLetter:
    """A ``cx.dlq`` record read back (for inspection and replay): who refused what, why, and the original."""

    dead_letter_id: str
    source: str
    stage: str
    reasons: tuple[Reason, ...]
    position: SourcePosition
    original_key: bytes | None
    original_value: bytes
    original_headers: Mapping[str, bytes]
    first_seen_ms: int
    event_id: str | None = None
    original_size: int | None = None  # set when original_value holds only the first bytes of the original
    original_sha256: str | None = None

    @property
    def truncated(self) -> bool:
        return self.original_size is not None

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> DeadLetter:
        reasons = tuple(
            Reason(as_str(r["rule_id"], "rule_id"), as_str(r["message"], "message"))
            for r in (obj(item, "reason") for item in seq(record["reasons"], "reasons"))
        )
        headers = {str(k): _as_bytes(v, "original_headers") for k, v in obj(record["original_headers"]).items()}
        key = record.get("original_key")
        return cls(
            dead_letter_id=as_str(record["dead_letter_id"], "dead_letter_id"),
            source=as_str(record["source"], "source"),
            stage=as_str(record["stage"], "stage"),
            reasons=reasons,
            position=SourcePosition(
                as_str(record["source_topic"], "source_topic"),
                as_int(record["source_partition"], "source_partition"),
                as_int(record["source_offset"], "source_offset"),
                _opt_ms(opt_time(record.get("source_timestamp"), "source_timestamp")),
            ),
            original_key=None if key is None else _as_bytes(key, "original_key"),
            original_value=_as_bytes(record["original_value"], "original_value"),
            original_headers=headers,
            first_seen_ms=to_ms(as_time(record["first_seen_at"], "first_seen_at")),
            event_id=opt_str(record.get("event_id"), "event_id"),
            original_size=opt_int(record.get("original_size"), "original_size"),
            original_sha256=opt_str(record.get("original_sha256"), "original_sha256"),
        )

    def has_rule(self, rule_id: str) -> bool:
        return any(r.rule_id == rule_id for r in self.reasons)


def _opt_ms(at: datetime | None) -> int | None:
    return None if at is None else to_ms(at)


def _as_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise StoredValueError(f"{what}: expected bytes, got {type(value).__name__}")
    return value
