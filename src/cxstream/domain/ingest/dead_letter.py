"""Dead-letter records: what could not be processed, why, and the original bytes, nothing dropped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


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
) -> dict[str, Any]:
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
