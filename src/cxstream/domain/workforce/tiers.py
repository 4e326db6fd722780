"""A helpdesk contact's complexity tier, from the declared rules (``topologies/workforce.yaml``), kept in the
event's ``tier`` attribute by enrichment so that metrics (handle time) can be kept by tier."""

from __future__ import annotations

from collections.abc import Sequence

from cxstream.domain.ingest.enrichment import TIER_ATTRIBUTE as TIER_ATTRIBUTE
from cxstream.domain.ingest.events import CanonicalEvent, EventType
from cxstream.domain.ingest.tickets import REOPENED_ATTRIBUTE, TOUCHES_ATTRIBUTE
from cxstream.domain.workforce.spec import Tier

TICKET_TYPE_ATTRIBUTE = "ticket_type"
CONTACT_EVENTS = frozenset({
    EventType.TICKET_CREATED, EventType.TICKET_REPLY, EventType.TICKET_FIRST_REPLY, EventType.TICKET_SOLVED,
    EventType.TICKET_REOPENED,
})  # fmt: skip


def tier_of(tiers: Sequence[Tier], event: CanonicalEvent) -> str | None:
    """The first tier whose rule the contact matches; None for events that are not helpdesk contacts (or when
    no tiers are declared)."""
    if not tiers or event.event_type not in CONTACT_EVENTS:
        return None
    op = event.operation
    values = {
        "priority": op.priority if op else None,
        "customer_segment": event.customer_segment,
        "channel": event.channel,
        "team": event.team,
        "region": event.region,
        "site": event.site,
        "ticket_type": event.attributes.get(TICKET_TYPE_ATTRIBUTE),
        "touches": event.attributes.get(TOUCHES_ATTRIBUTE),
        "reopened": event.attributes.get(REOPENED_ATTRIBUTE),
    }
    for tier in tiers:
        if tier.matches(values):
            return tier.id
    return None
