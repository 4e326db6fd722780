"""CRM records shaped like Salesforce: sObjects from the REST API (``attributes.type``) and Change Data
Capture events, in every envelope Salesforce delivers them: the event itself (``payload.ChangeEventHeader``),
a Streaming API (CometD) message (``{"data": {"schema", "payload", "event"}, "channel": "/data/..."}``), a
Pub/Sub API event decoded with its schema (``ChangeEventHeader`` at the top), and a JSON array of any of these.

* ``Survey_Response__c`` -> SURVEY_RESPONSE (CSAT, CES or NPS from ``Survey_Type__c``); the case
  (``Case__c``) or the order (``Order__c``, ``Promised_Delivery__c``, ``Delivered__c``) it is about when embedded
* ``Case`` -> COMPLAINT when ``Type`` is Complaint, else TICKET_CREATED; a closed case also TICKET_SOLVED
* ``CaseChangeEvent`` CREATE -> TICKET_CREATED; UPDATE to a closed status -> TICKET_SOLVED (one per record id)
* ``Contact``, ``Account`` and other objects carry no CX signal: zero events.
"""

from __future__ import annotations

from typing import Any

from cxstream.connectors.base import Connector, MappingError, RawContext
from cxstream.connectors.fields import each_record, found, need_object, opt_int, opt_str, opt_time, req_str, req_time
from cxstream.domain.base import to_ms
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation, Survey, SurveyMetric

_CLOSED = {"closed", "resolved", "solved"}
_SHAPES = (
    "an sObject (attributes.type), a change event (payload.ChangeEventHeader), a Streaming API message "
    "(data.payload.ChangeEventHeader) or a Pub/Sub API event (ChangeEventHeader)"
)


def _unwrapped(record: dict[str, Any]) -> dict[str, Any]:
    """The change event inside a Streaming API (CometD) message: ``{"data": {...}, "channel": ...}``."""
    data = record.get("data")
    if isinstance(data, dict) and isinstance(data.get("payload"), dict):
        return data
    return record


_CHANNELS = {"phone": "phone", "email": "email", "web": "web", "chat": "chat", "sms": "sms", "in person": "in_person"}


def _channel(value: str | None) -> str | None:
    return _CHANNELS.get(value.lower(), value.lower().replace(" ", "_")) if value else None


class SalesforceConnector(Connector):
    name = "crm"
    description = "Salesforce-shaped CRM records: survey responses, cases and case change events"

    def record_key(self, payload: Any) -> str | None:
        if isinstance(payload, dict):
            payload = _unwrapped(payload)
            body = payload.get("payload") if isinstance(payload.get("payload"), dict) else payload
            header = body.get("ChangeEventHeader")
            if isinstance(header, dict) and isinstance(header.get("transactionKey"), str):
                return str(header["transactionKey"])
            if isinstance(payload.get("Id"), str):
                return str(payload["Id"])
        return None

    def map(self, payload: Any, context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        return each_record(payload, f"a Salesforce record is {_SHAPES}", lambda r: self._map_object(r, context, raw))

    def _map_object(self, payload: dict[str, Any], context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        record = _unwrapped(payload)
        if isinstance(record.get("payload"), dict) and "ChangeEventHeader" in record["payload"]:
            return self._change_event(record["payload"], context, raw)
        if isinstance(record.get("ChangeEventHeader"), dict):  # a Pub/Sub API event, decoded
            return self._change_event(record, context, raw)
        kind = opt_str(record, "attributes.type")
        if kind is None:
            raise MappingError(f"a Salesforce record is {_SHAPES}; {found(record)}", "required.attributes.type")
        if kind == "Survey_Response__c":
            return [self._survey(record, context, raw)]
        if kind == "Case":
            return self._case(record, context, raw)
        return []

    def _common(self, record: dict[str, Any], context: RawContext, raw: bytes) -> dict[str, Any]:
        return {
            "source": self.name,
            "ingest_time": context.ingest_time,
            "region": opt_str(record, "Region__c", lower=True),
            "site": opt_str(record, "Site__c", lower=True),
            "channel": _channel(opt_str(record, "Channel__c") or opt_str(record, "Origin")),
            "raw_payload": raw,
            "raw_content_type": self.content_type,
        }

    def _survey(self, record: dict[str, Any], context: RawContext, raw: bytes) -> CanonicalEvent:
        record_id = req_str(record, "Id")
        kind = req_str(record, "Survey_Type__c").upper()
        try:
            metric = SurveyMetric(kind)
        except ValueError:
            raise MappingError(f"Survey_Type__c {kind!r} is not CSAT, CES or NPS", "mapping.survey_type") from None
        score = opt_int(record, "Score__c")
        if score is None:
            raise MappingError("Score__c is required", "required.Score__c")
        return CanonicalEvent(
            **self._common(record, context, raw),
            event_id=f"crm:survey:{record_id}",
            event_type=EventType.SURVEY_RESPONSE,
            event_time=req_time(record, "CreatedDate"),
            source_record_id=record_id,
            customer_id=opt_str(record, "Contact__c"),
            account_id=opt_str(record, "Account__c"),
            customer_segment=opt_str(record, "Segment__c", lower=True),
            team=opt_str(record, "Team__c", lower=True),
            journey_stage=opt_str(record, "Journey_Stage__c", lower=True),
            touchpoint=opt_str(record, "Touchpoint__c", lower=True),
            agent_id=opt_str(record, "Agent__c"),
            survey=Survey.on_standard_scale(
                metric, score, opt_str(record, "Comment__c"), opt_str(record, "Language__c", lower=True)
            ),
            operation=self._survey_operation(record),
        )

    @staticmethod
    def _survey_operation(record: dict[str, Any]) -> Operation | None:
        """What the answer is about, when the survey embeds it: the case, or the order with its promised and
        actual delivery (what customer tolerance weighs the answer against)."""
        about = {
            "ticket_id": opt_str(record, "Case__c"), "order_id": opt_str(record, "Order__c"),
            "promised_at": opt_time(record, "Promised_Delivery__c"), "actual_at": opt_time(record, "Delivered__c"),
        }  # fmt: skip
        return Operation(**{k: v for k, v in about.items() if v is not None}) if any(about.values()) else None

    def _case(self, record: dict[str, Any], context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        record_id = req_str(record, "Id")
        created = req_time(record, "CreatedDate")
        complaint = (opt_str(record, "Type") or "").lower() == "complaint"
        operation = Operation(
            ticket_id=opt_str(record, "CaseNumber") or record_id,
            status=opt_str(record, "Status", lower=True),
            priority=opt_str(record, "Priority", lower=True),
            created_at=created,
        )
        common = self._common(record, context, raw) | {
            "source_record_id": record_id,
            "customer_id": opt_str(record, "ContactId"),
            "account_id": opt_str(record, "AccountId"),
            "agent_id": opt_str(record, "OwnerId"),
            "team": opt_str(record, "Team__c", lower=True),
            "journey_stage": "support",
            "touchpoint": opt_str(record, "Touchpoint__c", lower=True) or "ticket_resolution",
            "operation": operation,
        }
        if complaint:
            verbatim = opt_str(record, "Description") or opt_str(record, "Subject")
            events = [
                CanonicalEvent(
                    **common,
                    event_id=f"crm:case:{record_id}:complaint",
                    event_type=EventType.COMPLAINT,
                    event_time=created,
                    comment=verbatim,
                )
            ]
        else:
            events = [
                CanonicalEvent(
                    **common,
                    event_id=f"crm:case:{record_id}:created",
                    event_type=EventType.TICKET_CREATED,
                    event_time=created,
                )
            ]
        closed = opt_time(record, "ClosedDate")
        if closed is not None:
            solved_op = operation.model_copy(update={"actual_at": closed})
            events.append(
                CanonicalEvent(
                    **(common | {"operation": solved_op}),
                    event_id=f"crm:case:{record_id}:solved",
                    event_type=EventType.TICKET_SOLVED,
                    event_time=closed,
                )
            )
        return events

    def _change_event(self, body: dict[str, Any], context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        header = need_object(body["ChangeEventHeader"], "ChangeEventHeader")
        if opt_str(header, "entityName") != "Case":
            return []
        change = req_str(header, "changeType").upper()
        ids = header.get("recordIds")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise MappingError("ChangeEventHeader.recordIds must be a non-empty list of ids", "required.recordIds")
        when = req_time(header, "commitTimestamp")
        status = opt_str(body, "Status", lower=True)
        if change == "CREATE":
            kind, suffix = EventType.TICKET_CREATED, "created"
        elif change == "UPDATE" and status in _CLOSED:
            kind, suffix = EventType.TICKET_SOLVED, "solved"
        else:
            return []
        commit = opt_str(header, "commitNumber") or str(to_ms(when))
        return [
            CanonicalEvent(
                event_id=f"crm:case:{record_id}:{suffix}:{commit}",
                event_type=kind,
                event_time=when,
                ingest_time=context.ingest_time,
                source=self.name,
                source_record_id=record_id,
                customer_id=opt_str(body, "ContactId"),
                account_id=opt_str(body, "AccountId"),
                agent_id=opt_str(body, "OwnerId") or opt_str(header, "commitUser"),
                region=opt_str(body, "Region__c", lower=True),
                site=opt_str(body, "Site__c", lower=True),
                channel=_channel(opt_str(body, "Origin")),
                journey_stage="support",
                touchpoint="ticket_resolution",
                operation=Operation(ticket_id=record_id, status=status, actual_at=when if suffix == "solved" else None),
                raw_payload=raw,
            )
            for record_id in ids
        ]
