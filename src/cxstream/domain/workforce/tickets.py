"""A helpdesk ticket's life as cxstream sees it in ``cx.events``: who replied and when, who solved it (with the
handle time and complexity tier), whether it came back, and the customer's ratings of it (CSAT, CES) with
what the customer wrote. What scorecards credit to agents.

Built from canonical events in any order (events carry their times); an event seen twice is kept once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cxstream.domain.base import to_ms
from cxstream.domain.ingest.enrichment import SENTIMENT_ATTRIBUTE, TIER_ATTRIBUTE
from cxstream.domain.ingest.events import CanonicalEvent, EventType, SurveyMetric
from cxstream.domain.ingest.tickets import ticket_key


@dataclass(frozen=True)
class Reply:
    at_ms: int
    agent: str


@dataclass(frozen=True)
class Solve:
    at_ms: int
    agent: str | None
    handle_s: int | None
    tier: str | None
    channel: str | None = None


@dataclass(frozen=True)
class Rating:
    at_ms: int
    metric: SurveyMetric
    score: int
    good: bool  # CSAT 4-5 (top-2-box); CES 5-7 ("easy")
    assignee: str | None  # the ticket's assignee when it was rated, as the helpdesk says
    event_id: str
    verbatim: str | None = None
    sentiment: float | None = None


@dataclass
class TicketLife:
    """Everything known about one ticket (``key``: source and ticket id)."""

    key: str
    ticket_id: str
    team: str | None = None
    region: str | None = None
    site: str | None = None
    channel: str | None = None
    replies: list[Reply] = field(default_factory=list)
    solves: list[Solve] = field(default_factory=list)
    reopens: list[int] = field(default_factory=list)
    ratings: list[Rating] = field(default_factory=list)
    last_ms: int = 0
    seen: set[str] = field(default_factory=set)

    def add(self, event: CanonicalEvent) -> bool:
        """Take one event of this ticket; False when it was seen before or says nothing a scorecard reads."""
        if event.event_id in self.seen:
            return False
        at = to_ms(event.event_time)
        kind = event.event_type
        if kind is EventType.TICKET_REPLY and event.agent_id:
            self.replies.append(Reply(at, event.agent_id))
        elif kind is EventType.TICKET_SOLVED:
            op = event.operation
            self.solves.append(Solve(at, event.agent_id, op.handle_seconds if op else None,
                                     event.attributes.get(TIER_ATTRIBUTE), event.channel))  # fmt: skip
        elif kind is EventType.TICKET_REOPENED:
            self.reopens.append(at)
        elif kind is EventType.SURVEY_RESPONSE and event.survey is not None:
            survey = event.survey
            if survey.metric is SurveyMetric.CSAT:
                good = survey.score >= 4
            elif survey.metric is SurveyMetric.CES:
                good = survey.score >= 5
            else:
                return False
            sentiment = event.attributes.get(SENTIMENT_ATTRIBUTE)
            self.ratings.append(Rating(at, survey.metric, survey.score, good, event.agent_id, event.event_id,
                                       survey.verbatim, float(sentiment) if sentiment else None))  # fmt: skip
        elif kind is not EventType.TICKET_CREATED:
            return False
        self.seen.add(event.event_id)
        if event.team and (kind is not EventType.SURVEY_RESPONSE or self.team is None):
            self.team = event.team
        self.region = event.region or self.region
        if kind is not EventType.SURVEY_RESPONSE:  # a rating's channel is the survey's, not the contact's
            self.site = event.site or self.site
            self.channel = event.channel or self.channel
        self.last_ms = max(self.last_ms, at)
        return True

    def serves(self, where: Mapping[str, str]) -> bool:
        """Whether the ticket belongs to a queue of scope ``where`` (team, region, site, channel)."""
        values = {"team": self.team, "region": self.region, "site": self.site, "channel": self.channel}
        return all(values.get(name) == wanted for name, wanted in where.items())

    def replies_before(self, at_ms: int) -> list[Reply]:
        return sorted((r for r in self.replies if r.at_ms <= at_ms), key=lambda r: (r.at_ms, r.agent))

    def first_solve(self) -> Solve | None:
        return min(self.solves, key=lambda s: s.at_ms) if self.solves else None

    def reopened_after(self, at_ms: int) -> bool:
        return any(t > at_ms for t in self.reopens)


def read_tickets(events: Iterable[CanonicalEvent]) -> dict[str, TicketLife]:
    """Every ticket the events name, by ticket key."""
    tickets: dict[str, TicketLife] = {}
    for event in events:
        add_event(tickets, event)
    return tickets


def add_event(tickets: dict[str, TicketLife], event: CanonicalEvent) -> bool:
    key = ticket_key(event)
    if key is None or not wanted(event):
        return False
    assert event.operation is not None and event.operation.ticket_id is not None
    life = tickets.get(key)
    if life is None:
        life = tickets[key] = TicketLife(key, event.operation.ticket_id)
    return life.add(event)


def wanted(event: CanonicalEvent) -> bool:
    """Whether a scorecard reads this event (ticket events, and CSAT/CES answers naming a ticket)."""
    if event.event_type is EventType.SURVEY_RESPONSE:
        return event.survey is not None and event.survey.metric in (SurveyMetric.CSAT, SurveyMetric.CES)
    return event.event_type in (EventType.TICKET_CREATED, EventType.TICKET_REPLY, EventType.TICKET_SOLVED,
                                EventType.TICKET_REOPENED)  # fmt: skip
