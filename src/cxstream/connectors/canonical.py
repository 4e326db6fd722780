"""JSON that is already in the canonical model, for teams that normalize upstream.

Fields are those of ``schemas/CanonicalEvent.avsc`` with times as ISO 8601 strings or epoch milliseconds.
cxstream sets ``source``, ``ingest_time`` and ``raw_payload`` itself; ``source_record_id`` defaults to
``event_id``; an upstream ``source`` value is kept as the ``upstream_source`` attribute.
"""

from __future__ import annotations

from typing import Any

from cxstream.connectors.base import Connector, MappingError, RawContext
from cxstream.connectors.fields import need_object, parse_time, req_str
from cxstream.domain.ingest.events import CanonicalEvent

_SET_BY_CXSTREAM = ("ingest_time", "raw_payload", "raw_content_type")


class CanonicalConnector(Connector):
    name = "canonical"
    description = "JSON already in the canonical event model"

    def record_key(self, payload: Any) -> str | None:
        """The ticket id when there is one (a ticket's events stay in order on one partition, which the
        ticket creation-time join relies on), else the event id."""
        if not isinstance(payload, dict):
            return None
        operation = payload.get("operation")
        if isinstance(operation, dict) and isinstance(operation.get("ticket_id"), str) and operation["ticket_id"]:
            return str(operation["ticket_id"])
        if isinstance(payload.get("event_id"), str):
            return str(payload["event_id"])
        return None

    def map(self, payload: Any, context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        record = dict(need_object(payload))
        for name in _SET_BY_CXSTREAM:
            if name in record:
                raise MappingError(f"{name} is set by cxstream, not by the sender", f"mapping.{name}")
        event_id = req_str(record, "event_id")
        record["event_time"] = parse_time(record.get("event_time"), "event_time")
        operation = record.get("operation")
        if isinstance(operation, dict):
            record["operation"] = {
                k: (parse_time(v, f"operation.{k}") if k.endswith("_at") and v is not None else v)
                for k, v in operation.items()
            }
        attributes = record.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise MappingError("attributes must be an object of strings", "mapping.type")
        upstream = record.pop("source", None)
        if upstream is not None:
            attributes = {**attributes, "upstream_source": str(upstream)}
        record.update(
            source=self.name,
            source_record_id=record.get("source_record_id") or event_id,
            attributes=attributes,
            ingest_time=context.ingest_time,
            raw_payload=raw,
        )
        return [CanonicalEvent.model_validate(record)]
