"""Dead-letter records: what could not be processed, why, and the original bytes, nothing dropped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cxstream.domain.base import Record, StoredValueError, as_int, as_str, as_time, obj, opt_str, opt_time, seq, to_ms


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
) -> Record:
    """A record of the DeadLetter schema. Reason texts are capped; the original bytes never are."""
    listed = [Reason(r.rule_id, r.message[:MAX_REASON_CHARS]) for r in reasons]
    if not listed:
        raise ValueError("a dead letter needs at least one reason")
    return {
        "dead_letter_id": position.id,
        "source": source,
        "stage": stage.value,
        "reasons": [{"rule_id": r.rule_id, "message": r.message} for r in listed],
        "source_topic": position.topic,
        "source_partition": position.partition,
        "source_offset": position.offset,
        "source_timestamp": position.timestamp_ms,
        "original_key": key,
        "original_value": value if value is not None else b"",
        "original_headers": dict(headers),
        "first_seen_at": now_ms,
        "event_id": event_id,
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
        )

    def has_rule(self, rule_id: str) -> bool:
        return any(r.rule_id == rule_id for r in self.reasons)


def _opt_ms(at: datetime | None) -> int | None:
    return None if at is None else to_ms(at)


def _as_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise StoredValueError(f"{what}: expected bytes, got {type(value).__name__}")
    return value
