"""Helpdesk records shaped like Zendesk.

* event webhooks ``zen:event-type:ticket.*`` (``detail`` = the ticket, ``event`` = the change):
  ``ticket.created`` -> TICKET_CREATED; ``ticket.status_changed`` to solved -> TICKET_SOLVED, from solved/closed
  back to an open status -> TICKET_REOPENED; ``ticket.comment_added`` public by staff -> TICKET_REPLY.
* ticket metric events (``metric: reply_time``, ``type: fulfill``, ``instance_id: 1``) -> TICKET_FIRST_REPLY.
* satisfaction ratings -> SURVEY_RESPONSE, CSAT: ``good``/``bad`` (and ``good_with_comment``/``bad_with_comment``)
  become 5/1, which keeps the top-2-box share exact; a numeric 1-5 score is kept as is; ``offered`` and
  ``unoffered`` (a survey sent, not answered) carry no answer: zero events. Every shape the Satisfaction
  Ratings API documents is read: the ``{"satisfaction_rating": {...}}`` of a show call, the
  ``{"satisfaction_ratings": [...]}`` page of a list call, a bare rating object, and a JSON array of them.

* agent availability events ``zen:event-type:agent.state_changed`` (an agent's status on one channel:
  ``online``, ``away``, ``offline``, ``transfers_only``) -> AGENT_STATUS with the status in ``operation.status``
  and the channel named as cxstream names it (``messaging`` -> chat, ``support`` -> email, ``talk`` -> phone).
  The event names only the agent: the agent's team, region and site come from the ``agents`` option.

Region and site come from ticket custom fields, team from the group, through ``topologies/connectors.yaml``;
so does the handle time of a solved ticket (a numeric custom field of seconds, as time-tracking apps keep it).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cxstream.connectors.base import Connector, ConnectorOptions, MappingError, RawContext
from cxstream.connectors.fields import (
    each_item,
    each_record,
    found,
    lookup,
    need_object,
    opt_int,
    opt_str,
    opt_time,
    req_str,
    req_time,
)
from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation, Survey, SurveyMetric

_EVENT_PREFIX = "zen:event-type:"
_SCORES = {"good": 5, "good_with_comment": 5, "bad": 1, "bad_with_comment": 1}
_NOT_ANSWERED = {"offered", "unoffered"}
_SHAPES = (
    "an event webhook (type zen:event-type:ticket.* or agent.state_changed), a ticket metric event "
    "(metric, instance_id) or a satisfaction rating (bare, in satisfaction_rating, a satisfaction_ratings list, "
    "or an array)"
)
_OPEN = {"new", "open", "pending", "hold"}
_DONE = {"solved", "closed"}


class AgentHome(ConnectorOptions):
    """Where an agent works: what the agent-status events do not say."""

    team: str | None = None
    region: str | None = None
    site: str | None = None


#: Zendesk's availability channels as cxstream names channels.
ZENDESK_CHANNELS = {"messaging": "chat", "support": "email", "talk": "phone"}


class HelpdeskOptions(ConnectorOptions):
    region_field: int | None = Field(None, description="custom field id holding the region")
    site_field: int | None = Field(None, description="custom field id holding the site")
    handle_time_field: int | None = Field(
        None,
        description="custom field id holding the agents' total time on the ticket in seconds (e.g. the Time "
        "Tracking app's 'Total time spent (sec)'); read on solved tickets as the handle time",
    )
    groups: dict[str, str] = Field(default_factory=dict, description="group id -> team")
    default_team: str = "customer-service"
    agents: dict[str, AgentHome] = Field(
        default_factory=dict,
        description="agent id -> team, region and site, for agent-status events (an agent not listed: the "
        "default team, no region)",
    )
    channels: dict[str, str] = Field(
        default_factory=lambda: dict(ZENDESK_CHANNELS), description="availability channel -> cxstream channel"
    )


class ZendeskConnector(Connector):
    name = "helpdesk"
    description = "Zendesk-shaped ticket events, ticket metric events and satisfaction ratings"
    options_model = HelpdeskOptions

    def record_key(self, payload: Any) -> str | None:
        if not isinstance(payload, dict):
            return None
        for path in ("detail.id", "detail.agent_id", "ticket_id", "satisfaction_rating.ticket_id"):
            value = lookup(payload, path)
            if isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
        return None

    def map(self, payload: Any, context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        return each_record(payload, f"a Zendesk record is {_SHAPES}", lambda r: self._map_object(r, context, raw))

    def _map_object(self, record: dict[str, Any], context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        if isinstance(record.get("satisfaction_rating"), dict):
            return self._rating(record["satisfaction_rating"], context, raw)
        if isinstance(record.get("satisfaction_ratings"), list):  # a page of the list endpoint
            return each_item(record["satisfaction_ratings"], "satisfaction_ratings",
                             lambda item: self._rating(need_object(item, "rating"), context, raw))  # fmt: skip
        if "metric" in record and "instance_id" in record:
            return self._metric_event(record, context, raw)
        if "score" in record and ("ticket_id" in record or "/satisfaction_ratings/" in str(record.get("url", ""))):
            return self._rating(record, context, raw)  # a bare rating object
        kind = opt_str(record, "type")
        if kind is None:
            raise MappingError(f"a Zendesk record is {_SHAPES}; {found(record)}", "required.type")
        kind = kind.removeprefix(_EVENT_PREFIX)
        if kind == "agent.state_changed":
            return self._agent_state(record, context, raw)
        if not kind.startswith("ticket."):
            return []
        return self._ticket_event(kind, record, context, raw)

    @property
    def _opts(self) -> HelpdeskOptions:
        assert isinstance(self.options, HelpdeskOptions)
        return self.options

    def _custom(self, ticket: dict[str, Any], field_id: int | None) -> str | None:
        fields = ticket.get("custom_fields")
        if field_id is None or not isinstance(fields, list):
            return None
        for item in fields:
            if isinstance(item, dict) and item.get("id") == field_id and isinstance(item.get("value"), str):
                return str(item["value"]).strip().lower() or None
        return None

    def _attributes(self, ticket: dict[str, Any]) -> dict[str, str]:
        """The group (team mapping) and the ticket type (question, incident, problem, task: its contact type)."""
        out = {}
        if group := opt_str(ticket, "group_id"):
            out["group_id"] = group
        if kind := opt_str(ticket, "type", lower=True):
            out["ticket_type"] = kind
        return out

    def _seconds(self, ticket: dict[str, Any]) -> int | None:
        """The handle-time custom field: whole seconds (numeric fields arrive as numbers or digit strings)."""
        fields, field_id = ticket.get("custom_fields"), self._opts.handle_time_field
        if field_id is None or not isinstance(fields, list):
            return None
        for item in fields:
            if isinstance(item, dict) and item.get("id") == field_id:
                value = item.get("value")
                if isinstance(value, bool) or value is None or value == "":
                    return None
                try:
                    seconds = float(value)
                except (TypeError, ValueError):
                    raise MappingError(
                        f"custom field {field_id} (handle time) is {value!r}, not seconds", "mapping.type"
                    ) from None
                if not 0 <= seconds < 10**9:
                    raise MappingError(
                        f"custom field {field_id} (handle time) is {value!r}, not seconds", "mapping.type"
                    )
                return round(seconds)
        return None

    def _ticket_context(self, ticket: dict[str, Any]) -> dict[str, Any]:
        group = opt_str(ticket, "group_id")
        return {
            "customer_id": opt_str(ticket, "requester_id"),
            "account_id": opt_str(ticket, "organization_id"),
            "region": self._custom(ticket, self._opts.region_field),
            "site": self._custom(ticket, self._opts.site_field),
            "team": self._opts.groups.get(group, self._opts.default_team) if group else self._opts.default_team,
            "channel": opt_str(ticket, "via.channel", lower=True),
            "journey_stage": "support",
            "touchpoint": "ticket_resolution",
        }

    def _ticket_event(self, kind: str, record: dict[str, Any], context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        ticket = need_object(record.get("detail"), "detail")
        ticket_id = req_str(ticket, "id")
        event_id = req_str(record, "id")
        when = req_time(record, "time")
        change: dict[str, Any] = record["event"] if isinstance(record.get("event"), dict) else {}
        agent = opt_str(ticket, "assignee_id")
        if kind == "ticket.created":
            event_type = EventType.TICKET_CREATED
        elif kind == "ticket.status_changed":
            current = opt_str(change, "current", lower=True) or opt_str(change, "current.status", lower=True) or ""
            previous = opt_str(change, "previous", lower=True) or opt_str(change, "previous.status", lower=True) or ""
            if current == "solved":
                event_type = EventType.TICKET_SOLVED
            elif previous in _DONE and current in _OPEN:
                event_type = EventType.TICKET_REOPENED
            else:
                return []
        elif kind == "ticket.comment_added":
            comment: dict[str, Any] = change["comment"] if isinstance(change.get("comment"), dict) else {}
            if comment.get("is_public") is not True or lookup(comment, "author.is_staff") is not True:
                return []
            event_type = EventType.TICKET_REPLY
            agent = opt_str(comment, "author.id") or agent
        else:
            return []
        return [
            CanonicalEvent(
                event_id=f"helpdesk:{event_id}",
                event_type=event_type,
                event_time=when,
                ingest_time=context.ingest_time,
                source=self.name,
                source_record_id=event_id,
                agent_id=agent,
                operation=Operation(
                    ticket_id=ticket_id,
                    status=opt_str(ticket, "status", lower=True),
                    priority=opt_str(ticket, "priority", lower=True),
                    created_at=opt_time(ticket, "created_at"),
                    actual_at=when if event_type is not EventType.TICKET_CREATED else None,
                    handle_seconds=self._seconds(ticket) if event_type is EventType.TICKET_SOLVED else None,
                ),
                attributes=self._attributes(ticket),
                raw_payload=raw,
                **self._ticket_context(ticket),
            )
        ]

    def _agent_state(self, record: dict[str, Any], context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        detail = need_object(record.get("detail"), "detail")
        change = need_object(record.get("event"), "event")
        agent = req_str(detail, "agent_id")
        event_id = req_str(record, "id")
        channel = req_str(change, "channel").lower()
        status = req_str(change, "new_state").lower()
        when = opt_time(change, "updated_at") or req_time(record, "time")
        home = self._opts.agents.get(agent, AgentHome(team=self._opts.default_team))
        attributes = {"zendesk_channel": channel}
        if previous := opt_str(change, "previous_state", lower=True):
            attributes["previous_status"] = previous
        return [
            CanonicalEvent(
                event_id=f"helpdesk:agent:{event_id}",
                event_type=EventType.AGENT_STATUS,
                event_time=when,
                ingest_time=context.ingest_time,
                source=self.name,
                source_record_id=event_id,
                agent_id=agent,
                team=home.team or self._opts.default_team,
                region=home.region,
                site=home.site,
                channel=self._opts.channels.get(channel, channel),
                operation=Operation(status=status),
                attributes=attributes,
                raw_payload=raw,
            )
        ]

    def _metric_event(self, record: dict[str, Any], context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        if (
            opt_str(record, "metric") != "reply_time"
            or opt_str(record, "type") != "fulfill"
            or opt_int(record, "instance_id") != 1
        ):
            return []
        record_id = req_str(record, "id")
        ticket_id = req_str(record, "ticket_id")
        when = req_time(record, "time")
        return [
            CanonicalEvent(
                event_id=f"helpdesk:metric:{record_id}",
                event_type=EventType.TICKET_FIRST_REPLY,
                event_time=when,
                ingest_time=context.ingest_time,
                source=self.name,
                source_record_id=record_id,
                journey_stage="support",
                touchpoint="ticket_resolution",
                operation=Operation(ticket_id=ticket_id, actual_at=when),
                raw_payload=raw,
            )
        ]

    def _rating(self, rating: dict[str, Any], context: RawContext, raw: bytes) -> list[CanonicalEvent]:
        rating_id = req_str(rating, "id")
        value = rating.get("score")
        if isinstance(value, str) and value in _NOT_ANSWERED:
            return []  # a survey offered, not answered: no response to count
        if isinstance(value, str) and value in _SCORES:
            score = _SCORES[value]
        else:
            number = None if isinstance(value, str) else opt_int(rating, "score")
            if number is None:
                raise MappingError(
                    f"score is good, bad, good_with_comment, bad_with_comment, offered, unoffered or 1-5; "
                    f"found {value!r:.40}",
                    "mapping.score",
                )
            score = number
        group = opt_str(rating, "group_id")
        return [
            CanonicalEvent(
                event_id=f"helpdesk:rating:{rating_id}",
                event_type=EventType.SURVEY_RESPONSE,
                event_time=opt_time(rating, "created_at") or req_time(rating, "updated_at"),
                ingest_time=context.ingest_time,
                source=self.name,
                source_record_id=rating_id,
                customer_id=opt_str(rating, "requester_id"),
                agent_id=opt_str(rating, "assignee_id"),
                team=self._opts.groups.get(group, self._opts.default_team) if group else self._opts.default_team,
                region=opt_str(rating, "region", lower=True),
                site=opt_str(rating, "site", lower=True),
                channel=opt_str(rating, "channel", lower=True),
                journey_stage="support",
                touchpoint="ticket_resolution",
                survey=Survey.on_standard_scale(
                    SurveyMetric.CSAT, score, opt_str(rating, "comment"), opt_str(rating, "language", lower=True)
                ),
                operation=Operation(ticket_id=opt_str(rating, "ticket_id")),
                raw_payload=raw,
            )
        ]
