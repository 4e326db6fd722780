"""The canonical event: one CX signal or operational fact, whatever system it came from.

Mirrors ``schemas/CanonicalEvent.avsc``; :meth:`CanonicalEvent.to_record` gives the Avro record.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from cxstream.domain.base import Record


class EventType(StrEnum):
    SURVEY_RESPONSE = "SURVEY_RESPONSE"
    COMPLAINT = "COMPLAINT"
    COMMENT = "COMMENT"
    ORDER_CREATED = "ORDER_CREATED"
    ORDER_GOODS_ISSUED = "ORDER_GOODS_ISSUED"
    ORDER_DELIVERED = "ORDER_DELIVERED"
    TICKET_CREATED = "TICKET_CREATED"
    TICKET_REPLY = "TICKET_REPLY"  # a public agent reply
    TICKET_FIRST_REPLY = "TICKET_FIRST_REPLY"
    TICKET_SOLVED = "TICKET_SOLVED"
    TICKET_REOPENED = "TICKET_REOPENED"
    AGENT_STATUS = "AGENT_STATUS"  # an agent's status on a channel changed (operation.status: online, away ...)
    PARTNER_FEEDBACK = "PARTNER_FEEDBACK"  # a partner's report on a playbook step (attributes: playbook, step ...)
    OTHER = "OTHER"


class SurveyMetric(StrEnum):
    CSAT = "CSAT"
    CES = "CES"
    NPS = "NPS"


#: The scale each survey metric is asked on (DESIGN.md: CSAT 1-5, CES 1-7, NPS 0-10).
SCALES: dict[SurveyMetric, tuple[int, int]] = {
    SurveyMetric.CSAT: (1, 5),
    SurveyMetric.CES: (1, 7),
    SurveyMetric.NPS: (0, 10),
}

TICKET_TYPES = frozenset(
    {
        EventType.TICKET_CREATED,
        EventType.TICKET_REPLY,
        EventType.TICKET_FIRST_REPLY,
        EventType.TICKET_SOLVED,
        EventType.TICKET_REOPENED,
    }
)
ORDER_TYPES = frozenset({EventType.ORDER_CREATED, EventType.ORDER_GOODS_ISSUED, EventType.ORDER_DELIVERED})

MANUAL_FLAG = "manual"
#: The header in which a ``cx.events`` record carries its event type (the enum's value), so a reader that wants a
#: few types skips the others without decoding them. Records without it (written by another producer) are decoded.
TYPE_HEADER = "cxstream-event-type"
#: The header saying the normalizing agent tried the hot-alert rules on a ``cx.events`` record already (and sent what
#: they raised straight to the routing side, a hop sooner); readers of the topic try them only on records without it.
HOT_RULES_HEADER = "cxstream-hot-rules-tried"


def utc(value: datetime) -> datetime:
    """Aware UTC at millisecond precision (what Avro timestamp-millis keeps)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    aware = aware.astimezone(UTC)
    return aware.replace(microsecond=aware.microsecond // 1000 * 1000)


#: Longest identifier or label value (an event id may take up to 512 characters).
IDENTIFIER_MAX = 256
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Unicode categories no identifier may hold: controls (U+0000 ...), formatting characters (bidirectional
#: overrides such as U+202E, zero-width spaces), surrogates, line and paragraph separators. They make one id
#: look like another, or break the logs, files and screens it is shown on.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def identifier_problem(value: str, limit: int = IDENTIFIER_MAX) -> str | None:
    """Why ``value`` cannot be an identifier, or None."""
    if len(value) > limit:
        return f"is {len(value)} characters long, over {limit}"
    if value.isascii():
        bad = _ASCII_CONTROL.search(value)
        found = bad.group() if bad else None
    else:
        found = next((c for c in value if unicodedata.category(c) in FORBIDDEN_CATEGORIES), None)
    if found is not None:
        name = unicodedata.name(found, "a control character")
        return f"holds U+{ord(found):04X} ({name}), a control or formatting character"
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


#: A whole number that fits the schema's Avro ``int`` (32 bits): anything larger is refused when mapped, with
#: the field named, instead of failing later when the event is encoded.
AvroInt = Annotated[StrictInt, Field(ge=-(2**31), le=2**31 - 1)]


class Survey(_Model):
    metric: SurveyMetric
    score: AvroInt  # a number: neither true nor "5"
    scale_min: AvroInt
    scale_max: AvroInt
    verbatim: str | None = None
    language: str | None = None

    @classmethod
    def on_standard_scale(
        cls, metric: SurveyMetric, score: int, verbatim: str | None = None, language: str | None = None
    ) -> Survey:
        low, high = SCALES[metric]
        return cls(metric=metric, score=score, scale_min=low, scale_max=high, verbatim=verbatim, language=language)


class Operation(_Model):
    order_id: str | None = None
    delivery_id: str | None = None
    ticket_id: str | None = None
    status: str | None = None
    priority: str | None = None
    created_at: datetime | None = None
    promised_at: datetime | None = None
    actual_at: datetime | None = None
    handle_seconds: int | None = Field(None, ge=0, description="agent working time on a solved ticket")

    @field_validator("created_at", "promised_at", "actual_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return utc(value) if value is not None else None


class CanonicalEvent(_Model):
    event_id: str = Field(min_length=1)  # at most 512 characters (see bad_identifier)
    event_type: EventType
    event_time: datetime
    ingest_time: datetime
    source: str = Field(min_length=1)
    source_record_id: str = Field(min_length=1)
    customer_id: str | None = None
    account_id: str | None = None
    customer_segment: str | None = None
    region: str | None = None
    site: str | None = None
    team: str | None = None
    channel: str | None = None
    journey_stage: str | None = None
    touchpoint: str | None = None
    agent_id: str | None = None
    survey: Survey | None = None
    operation: Operation | None = None
    comment: str | None = None
    quality_flags: tuple[str, ...] = ()
    attributes: dict[str, str] = Field(default_factory=dict)
    raw_content_type: str = "application/json"
    raw_payload: bytes = b""

    @field_validator("event_time", "ingest_time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return utc(value)

    def with_flags(self, *flags: str) -> CanonicalEvent:
        merged = tuple(dict.fromkeys((*self.quality_flags, *flags)))
        return self.model_copy(update={"quality_flags": merged})

    @property
    def key(self) -> str:
        """Kafka key on ``cx.events``: the customer when known (per-customer order), else the event."""
        return self.customer_id or self.event_id

    def to_record(self) -> Record:
        record: Record = self.model_dump(mode="python", exclude={"survey"})
        record["event_type"] = self.event_type.value
        record["quality_flags"] = list(self.quality_flags)
        if self.survey is None:
            record["survey"] = None
        else:
            survey: Record = self.survey.model_dump(mode="python")
            survey["metric"] = self.survey.metric.value
            record["survey"] = survey
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> CanonicalEvent:
        return cls.model_validate(record)


EVENT_IDENTIFIERS = ("event_id", "source_record_id", "customer_id", "account_id", "customer_segment", "region",
                     "site", "team", "channel", "journey_stage", "touchpoint", "agent_id")  # fmt: skip
OPERATION_IDENTIFIERS = ("order_id", "delivery_id", "ticket_id", "status", "priority")


def bad_identifier(event: CanonicalEvent) -> tuple[str, str] | None:
    """The first identifier or label of ``event`` that breaks :func:`identifier_problem`, with why. Checked
    once, where records become events (every connector), not on every read of ``cx.events``."""
    for name in EVENT_IDENTIFIERS:
        value = getattr(event, name)
        if value is not None and (problem := identifier_problem(value, 512 if name == "event_id" else IDENTIFIER_MAX)):
            return name, problem
    if event.operation is not None:
        for name in OPERATION_IDENTIFIERS:
            value = getattr(event.operation, name)
            if value is not None and (problem := identifier_problem(value)):
                return f"operation.{name}", problem
    return None
