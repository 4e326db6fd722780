"""The connector interface: a source name, a raw topic, and a pure mapping from raw bytes to canonical events.

A connector never touches Kafka. Register a new one under the ``cxstream.connectors`` entry-point group::

    [project.entry-points."cxstream.connectors"]
    pos = "my_package.pos:PointOfSaleConnector"

See ``docs/connectors.md`` for a walk-through.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from cxstream.domain.catalog import Topics
from cxstream.domain.ingest.events import CanonicalEvent, bad_identifier

RAW_TOPIC_PREFIX = Topics.RAW_PREFIX

#: Kafka header on raw records saying how they arrived; records from ``cxstream import`` are ``manual``.
ORIGIN_HEADER = "cxstream-origin"
MANUAL_ORIGIN = b"manual"
WEBHOOK_ORIGIN = b"webhook"
MAX_RECORD_BYTES = 1024 * 1024
#: Rule ids of the canonical model's refusals that have their own (the others are ``mapping.canonical``).
VALIDATION_RULES = {"int_type": "mapping.type"}


class MappingError(ValueError):
    """The raw record cannot become canonical events. ``rule_id`` says which check refused it."""

    def __init__(self, message: str, rule_id: str = "mapping") -> None:
        super().__init__(message)
        self.rule_id = rule_id


@dataclass(frozen=True)
class RawContext:
    """What the transport knows about a raw record besides its bytes."""

    ingest_time: datetime
    manual: bool = False
    headers: Mapping[str, bytes] = field(default_factory=dict)


class ConnectorOptions(BaseModel):
    """Per-connector settings from ``topologies/connectors.yaml``; subclasses add fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes, max_bytes: int = MAX_RECORD_BYTES) -> Any:
    """Strict JSON from untrusted bytes: size-capped, UTF-8 only, no NaN/Infinity, bounded nesting."""
    if len(raw) > max_bytes:
        raise MappingError(f"record is {len(raw)} bytes, over the {max_bytes}-byte limit", "decode.size")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MappingError(f"not UTF-8: {exc.reason} at byte {exc.start}", "decode.utf8") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise MappingError("JSON nested too deeply", "decode.json") from None
    except ValueError as exc:  # JSONDecodeError, int too large, NaN
        raise MappingError(f"not JSON: {exc}", "decode.json") from None


class Connector(ABC):
    """Subclass, set ``name`` and ``description``, implement :meth:`map`."""

    name: ClassVar[str]
    description: ClassVar[str]
    content_type: ClassVar[str] = "application/json"
    options_model: ClassVar[type[ConnectorOptions]] = ConnectorOptions

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        try:
            self.options = self.options_model.model_validate(dict(options or {}))
        except ValidationError as exc:
            raise ValueError(f"connector {self.name}: invalid options: {exc}") from exc

    @property
    def raw_topic(self) -> str:
        return f"{RAW_TOPIC_PREFIX}{self.name}"

    def parse(self, raw: bytes) -> Any:
        """Bytes to the payload :meth:`map` takes. JSON by default."""
        return parse_json(raw)

    @abstractmethod
    def map(self, payload: Any, context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        """Canonical events for one parsed record: zero when it carries nothing cxstream uses.

        Raise :class:`MappingError` for a record that is malformed. Pure: no I/O, no clock.
        """

    def record_key(self, payload: Any) -> str | None:
        """Kafka key for the raw record (its id in the source), so retries land on one partition."""
        return None

    def normalize(self, raw: bytes, context: RawContext) -> list[CanonicalEvent]:
        """parse + map; anything unexpected becomes a MappingError, never another exception."""
        payload = self.parse(raw)
        try:
            events = self.map(payload, context, raw)
        except MappingError:
            raise
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            rule = VALIDATION_RULES.get(first["type"], "mapping.canonical")
            raise MappingError(f"canonical field {where}: {first['msg']}", rule) from None
        except RecursionError:
            raise MappingError("record nested too deeply", "mapping.shape") from None
        except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
            raise MappingError(f"unexpected record shape: {type(exc).__name__}: {exc}", "mapping.shape") from None
        for event in events:
            if (bad := bad_identifier(event)) is not None:
                field, problem = bad
                raise MappingError(f"canonical field {field}: {field} {problem}", "mapping.identifier")
        return events
