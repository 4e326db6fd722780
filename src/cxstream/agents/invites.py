"""Survey invites through the contact policy (:mod:`cxstream.domain.cases.invites`).

What decides about a customer reaches one internal topic keyed by customer id: invite requests and complaints
from the events agent, cases opening and ending from the cases agent. One agent keeps each customer's history
and the invites sent per cap scope, day and partition in tables, and publishes the invites that pass to
``cx.survey-invites``; the suppressed ones are counted by reason in ``cxstream_survey_invites_total``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from cxstream.agents import outbox
from cxstream.agents.guard import Guards
from cxstream.agents.stores import Store
from cxstream.domain.base import now_ms, to_ms
from cxstream.domain.cases.contact_policy import Contact, ContactPolicy, InviteRequest, Suppression
from cxstream.domain.cases.followup import FollowUp, invite_requests
from cxstream.domain.cases.invites import (
    CaseMessage,
    ComplaintMessage,
    ContactHistory,
    ContactMessage,
    RequestMessage,
    cap_share,
    cap_slot,
    case_changed,
    complained,
    decode_contact_message,
    encode_contact_message,
    invite_record,
    offer,
    resend_on_replay,
)
from cxstream.domain.cases.machine import DONE, Case
from cxstream.domain.catalog import Internal, Tables, Topics
from cxstream.domain.ingest.events import CanonicalEvent, EventType
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import SURVEY_INVITES, child

AGENT = "cxstream.invites"
CONTACTS_TOPIC = Internal.CONTACTS
CONTACTS_TABLE = Tables.CONTACT_HISTORY
CAPS_TABLE = Tables.INVITE_CAPS
INVITES_TOPIC = Topics.SURVEY_INVITES
log = get_logger(__name__)


@dataclass
class Contacts:
    """Puts what concerns a customer on the contacts topic; handed to the events and cases agents."""

    topic: Any
    followup: FollowUp

    async def _send(self, customer_id: str, message: ContactMessage) -> None:
        await outbox.send(self.topic, customer_id.encode(), encode_contact_message(message))

    async def event(self, event: CanonicalEvent) -> None:
        for request in invite_requests(self.followup.invite_triggers, event):
            if not request.customer_id:
                SURVEY_INVITES.labels(survey=request.survey, outcome=Suppression.NO_CUSTOMER.value).inc()
                continue
            await self._send(request.customer_id, RequestMessage(request))
        if event.event_type is EventType.COMPLAINT and event.customer_id:
            await self._send(event.customer_id, ComplaintMessage(to_ms(event.event_time)))

    async def case(self, case: Case) -> None:
        customer = case.labels.get("customer_id")
        if customer:
            await self._send(customer, CaseMessage(case.case_id, case.state not in DONE))


def register(app: faust.App, followup: FollowUp, invites_serializer: str, partitions: int, guards: Guards) -> Contacts:
    topic = app.topic(
        CONTACTS_TOPIC, internal=True, partitions=partitions, key_type=bytes, value_type=bytes,
        key_serializer="raw", value_serializer="raw",
    )  # fmt: skip
    invites = app.topic(INVITES_TOPIC, key_type=bytes, key_serializer="raw", value_serializer=invites_serializer)
    table = app.Table(CONTACTS_TABLE, default=None, key_type=str, value_type=None, partitions=partitions)
    history = Store(table, ContactHistory.from_json, ContactHistory.to_json)
    caps = app.Table(CAPS_TABLE, default=int, key_type=str, value_type=int, partitions=partitions)
    policy: ContactPolicy = followup.contact_policy

    guard = guards.of(AGENT)

    async def decide(event: Any) -> None:
        customer = event.key.decode()
        message = decode_contact_message(event.value)
        known = history.get(customer) or ContactHistory()
        contact, requests = known.contact, known.requests
        if isinstance(message, ComplaintMessage):
            contact = complained(contact, message.at_ms)
        elif isinstance(message, CaseMessage):
            contact = case_changed(contact, message.case_id, message.open)
        else:
            contact, requests = await _request(event, message.request, contact, requests)
        history[customer] = ContactHistory(contact, requests)

    async def failed(event: Any, exc: Exception) -> None:
        """One odd message costs itself, not the agent (up to the dead-letter limit)."""
        log.exception("invite_failed", partition=event.message.partition, offset=event.message.offset)

    @app.agent(topic, name=AGENT)
    async def decide_invites(stream: Any) -> None:
        await guard.hold()  # a restarted agent stopped at the limit stays stopped
        async for event in stream.events():
            await guard.run(event, event, decide, failed)

    async def _request(
        event: Any, request: InviteRequest, contact: Contact, requests: tuple[str, ...]
    ) -> tuple[Contact, tuple[str, ...]]:
        partition = event.message.partition
        key = cap_slot(policy, request, partition)
        share = cap_share(policy.daily_cap, partitions, partition)
        decision, contact, requests = offer(policy, contact, requests, request, caps[key], share)
        if decision is None:  # decided before a crash; if it was sent, send it again (same invite id)
            SURVEY_INVITES.labels(survey=request.survey, outcome="replayed").inc()
            if resend_on_replay(contact, request):
                await outbox.send(invites, str(request.customer_id).encode(), invite_record(request, now_ms()))
        elif decision.send:
            caps[key] += 1
            await outbox.send(invites, str(request.customer_id).encode(), invite_record(request, now_ms()))
            child(SURVEY_INVITES, request.survey, "sent").inc()
        else:
            assert decision.reason is not None
            SURVEY_INVITES.labels(survey=request.survey, outcome=decision.reason.value).inc()
        return contact, requests

    return Contacts(topic, followup)
