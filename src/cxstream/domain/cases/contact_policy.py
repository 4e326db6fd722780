"""Survey fatigue: every survey invite request passes a contact policy before it may go out.

Checks, in this order (the first that holds is the reason an invite is suppressed, so each suppressed invite
is counted once, under one reason):

1. ``no_customer``    the request names no customer;
2. ``open_case``      the customer has an open follow-up case (ask after the problem is solved, not during);
3. ``quiet_period``   the customer complained less than ``quiet_after_complaint`` ago;
4. ``recent_invite``  the customer was invited less than ``min_interval`` ago;
5. ``daily_cap``      ``daily_cap`` invites already went out that UTC day (in the request's cap scope).

The daily cap comes last, so it counts only invites that would otherwise have gone. Pure; the history per
customer and the counts per day are kept by :mod:`cxstream.domain.cases.invites` (and, running, in tables).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cxstream.domain.durations import parse_duration_ms

DAY_MS = 86_400_000


class Suppression(StrEnum):
    NO_CUSTOMER = "no_customer"
    OPEN_CASE = "open_case"
    QUIET_PERIOD = "quiet_period"
    RECENT_INVITE = "recent_invite"
    DAILY_CAP = "daily_cap"


class ContactPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_interval: str = Field("30d", description="at most one invite per customer within this")
    quiet_after_complaint: str = Field("14d", description="no invite this long after a complaint")
    no_invite_with_open_case: bool = True
    daily_cap: int | None = Field(None, ge=0, description="invites per UTC day and cap scope; none: no cap")
    cap_by: tuple[str, ...] = Field((), description="request labels the cap is counted per, e.g. [region]")

    @field_validator("min_interval", "quiet_after_complaint")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_ms(value)
        return value


@dataclass(frozen=True)
class InviteRequest:
    request_id: str
    customer_id: str | None
    at_ms: int
    survey: str  # CSAT, CES, NPS
    labels: Mapping[str, str] = field(default_factory=dict)  # region, touchpoint, trigger event type ...


@dataclass(frozen=True)
class Contact:
    """What the policy remembers of one customer."""

    last_invite_ms: int | None = None
    last_complaint_ms: int | None = None
    open_cases: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    send: bool
    reason: Suppression | None = None


def cap_key(policy: ContactPolicy, request: InviteRequest) -> str:
    day = request.at_ms // DAY_MS
    return "|".join([str(day), *(f"{k}={request.labels.get(k, '')}" for k in policy.cap_by)])


def decide(policy: ContactPolicy, contact: Contact, request: InviteRequest, sent_in_cap: int) -> Decision:
    at = request.at_ms
    if not request.customer_id:
        return Decision(False, Suppression.NO_CUSTOMER)
    if policy.no_invite_with_open_case and contact.open_cases:
        return Decision(False, Suppression.OPEN_CASE)
    quiet = parse_duration_ms(policy.quiet_after_complaint)
    if contact.last_complaint_ms is not None and 0 <= at - contact.last_complaint_ms < quiet:
        return Decision(False, Suppression.QUIET_PERIOD)
    interval = parse_duration_ms(policy.min_interval)
    if contact.last_invite_ms is not None and at - contact.last_invite_ms < interval:
        return Decision(False, Suppression.RECENT_INVITE)
    if policy.daily_cap is not None and sent_in_cap >= policy.daily_cap:
        return Decision(False, Suppression.DAILY_CAP)
    return Decision(True)
