"""Survey invites through the contact policy, in a form a partitioned agent can hold.

Everything that decides about one customer (requests, complaints, cases opening and ending) is keyed by the
customer, so one partition holds all of a customer's history. The daily cap is the one number shared across
customers: each partition gets a fixed share of it (:func:`cap_share`), so the partitions together never send
more than the cap and need no coordination; with customers spread evenly by key the shares fill alike, and a
skewed day sends somewhat fewer than the cap, never more.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from cxstream.domain.base import (
    Json,
    JsonObject,
    Record,
    StoredValueError,
    as_int,
    as_str,
    digest,
    obj,
    opt_int,
    opt_str,
    str_list,
    text_map,
)
from cxstream.domain.cases.contact_policy import (
    Contact,
    ContactPolicy,
    Decision,
    InviteRequest,
    Suppression,
    cap_key,
    decide,
)

REMEMBERED_REQUESTS = 32  # request ids kept per customer, so a request replayed after a crash is decided once


def cap_share(daily_cap: int | None, partitions: int, partition: int) -> int | None:
    """Partition ``partition``'s share of the daily cap: the shares differ by at most one and sum to the cap."""
    if daily_cap is None:
        return None
    return daily_cap // partitions + (1 if partition < daily_cap % partitions else 0)


def contact_to_json(contact: Contact, requests: tuple[str, ...]) -> JsonObject:
    return {
        "last_invite_ms": contact.last_invite_ms,
        "last_complaint_ms": contact.last_complaint_ms,
        "open_cases": list[Json](sorted(contact.open_cases)),
        "requests": list[Json](requests[-REMEMBERED_REQUESTS:]),
    }


def contact_from_json(stored: object) -> tuple[Contact, tuple[str, ...]]:
    if not stored:
        return Contact(), ()
    data = obj(stored, "contact history")
    contact = Contact(
        last_invite_ms=opt_int(data.get("last_invite_ms"), "last_invite_ms"),
        last_complaint_ms=opt_int(data.get("last_complaint_ms"), "last_complaint_ms"),
        open_cases=frozenset(str_list(data.get("open_cases"), "open_cases")),
    )
    return contact, str_list(data.get("requests"), "requests")


@dataclass(frozen=True)
class ContactHistory:
    """What the contact-history table keeps per customer: the contact and the request ids decided last."""

    contact: Contact = field(default_factory=Contact)
    requests: tuple[str, ...] = ()

    def to_json(self) -> JsonObject:
        return contact_to_json(self.contact, self.requests)

    @classmethod
    def from_json(cls, data: object) -> ContactHistory:
        return cls(*contact_from_json(data))


@dataclass(frozen=True)
class RequestMessage:
    """An invite request for a customer (from the events agent)."""

    request: InviteRequest


@dataclass(frozen=True)
class ComplaintMessage:
    """The customer complained at ``at_ms``: no invite for a while."""

    at_ms: int


@dataclass(frozen=True)
class CaseMessage:
    """One of the customer's cases opened or ended (from the cases agent)."""

    case_id: str
    open: bool


#: What crosses the internal contacts topic, keyed by customer id.
ContactMessage = RequestMessage | ComplaintMessage | CaseMessage


def encode_contact_message(message: ContactMessage) -> bytes:
    """``{"kind": "request" | "complaint" | "case", ...}`` as compact JSON."""
    body: JsonObject
    if isinstance(message, RequestMessage):
        body = {"kind": "request", "request": request_to_json(message.request)}
    elif isinstance(message, ComplaintMessage):
        body = {"kind": "complaint", "at_ms": message.at_ms}
    else:
        body = {"kind": "case", "case_id": message.case_id, "open": message.open}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_contact_message(data: bytes) -> ContactMessage:
    value = obj(json.loads(data), "contact message")
    kind = value.get("kind")
    if kind == "request":
        return RequestMessage(request_from_json(value["request"]))
    if kind == "complaint":
        return ComplaintMessage(as_int(value["at_ms"], "at_ms"))
    if kind == "case":
        return CaseMessage(as_str(value["case_id"], "case_id"), bool(value["open"]))
    raise StoredValueError(f"contact message: unknown kind {kind!r}")


def offer(
    policy: ContactPolicy, contact: Contact, requests: tuple[str, ...], request: InviteRequest, sent_in_cap: int,
    cap: int | None,
) -> tuple[Decision | None, Contact, tuple[str, ...]]:  # fmt: skip
    """The decision on ``request`` (None: already decided, a replay) and the customer's history after it.
    ``cap`` is this partition's share of the daily cap."""
    if request.request_id in requests:
        return None, contact, requests
    decision = decide(policy.model_copy(update={"daily_cap": cap}), contact, request, sent_in_cap)
    if decision.send:
        contact = replace(contact, last_invite_ms=request.at_ms)
    return decision, contact, (*requests, request.request_id)[-REMEMBERED_REQUESTS:]


def cap_slot(policy: ContactPolicy, request: InviteRequest, partition: int) -> str:
    """The invite-caps table key a request counts against: its cap scope and day, on this partition (each
    partition keeps its share of the daily cap, see :func:`cap_share`)."""
    return f"{cap_key(policy, request)}|p{partition}"


def resend_on_replay(contact: Contact, request: InviteRequest) -> bool:
    """A request decided before a crash is decided again as a replay: its invite is sent again (the same id,
    so consumers drop the copy) when it was the one sent, since the crash may have come before the send."""
    return contact.last_invite_ms == request.at_ms


def complained(contact: Contact, at_ms: int) -> Contact:
    return replace(contact, last_complaint_ms=max(at_ms, contact.last_complaint_ms or at_ms))


def case_changed(contact: Contact, case_id: str, open_now: bool) -> Contact:
    cases = contact.open_cases | {case_id} if open_now else contact.open_cases - {case_id}
    return replace(contact, open_cases=cases)


def request_to_json(request: InviteRequest) -> JsonObject:
    return {
        "request_id": request.request_id, "customer_id": request.customer_id, "at_ms": request.at_ms,
        "survey": request.survey, "labels": dict(request.labels),
    }  # fmt: skip


def request_from_json(stored: object) -> InviteRequest:
    data = obj(stored, "invite request")
    return InviteRequest(
        request_id=as_str(data["request_id"], "request_id"),
        customer_id=opt_str(data.get("customer_id"), "customer_id"),
        at_ms=as_int(data["at_ms"], "at_ms"),
        survey=as_str(data["survey"], "survey"),
        labels=text_map(data.get("labels"), "labels"),
    )


def invite_record(request: InviteRequest, decided_ms: int) -> Record:
    """The ``cx.survey-invites`` record (schema ``cxstream.SurveyInvite``) of an invite that passed."""
    assert request.customer_id is not None
    invite_digest = digest(request.request_id)
    return {
        "invite_id": f"si-{invite_digest}",
        "request_id": request.request_id,
        "customer_id": request.customer_id,
        "survey": request.survey,
        "send_at": datetime.fromtimestamp(request.at_ms / 1000, UTC),
        "decided_at": datetime.fromtimestamp(decided_ms / 1000, UTC),
        "trigger": request.labels.get("trigger"),
        "labels": {k: v for k, v in request.labels.items() if k != "trigger"},
    }


@dataclass
class ContactLedger:
    """The policy applied to a whole stream, as the partitioned agent applies it: customers spread over
    ``partitions`` by ``partition_of``, each partition with its share of the daily cap. Counts sent and
    suppressed invites by reason."""

    policy: ContactPolicy
    partitions: int = 1
    partition_of: Callable[[str], int] = field(default=lambda customer: 0)
    contacts: dict[str, tuple[Contact, tuple[str, ...]]] = field(default_factory=dict)
    sent_per_cap: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    def _get(self, customer: str) -> tuple[Contact, tuple[str, ...]]:
        return self.contacts.get(customer, (Contact(), ()))

    def offer(self, request: InviteRequest) -> Decision | None:
        if not request.customer_id:
            self.outcomes[Suppression.NO_CUSTOMER.value] += 1
            return Decision(False, Suppression.NO_CUSTOMER)
        partition = self.partition_of(request.customer_id)
        key = cap_slot(self.policy, request, partition)
        share = cap_share(self.policy.daily_cap, self.partitions, partition)
        contact, requests = self._get(request.customer_id)
        decision, contact, requests = offer(self.policy, contact, requests, request, self.sent_per_cap[key], share)
        self.contacts[request.customer_id] = (contact, requests)
        if decision is None:
            self.outcomes["replayed"] += 1
        elif decision.send:
            self.sent_per_cap[key] += 1
            self.outcomes["sent"] += 1
        else:
            assert decision.reason is not None
            self.outcomes[decision.reason.value] += 1
        return decision

    def complaint(self, customer_id: str, at_ms: int) -> None:
        contact, requests = self._get(customer_id)
        self.contacts[customer_id] = (complained(contact, at_ms), requests)

    def case_opened(self, customer_id: str, case_id: str) -> None:
        contact, requests = self._get(customer_id)
        self.contacts[customer_id] = (case_changed(contact, case_id, True), requests)

    def case_closed(self, customer_id: str, case_id: str) -> None:
        contact, requests = self._get(customer_id)
        self.contacts[customer_id] = (case_changed(contact, case_id, False), requests)
