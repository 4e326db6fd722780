"""Who is on the floor: each agent's status per channel from the helpdesk's agent-status events, and how many
agents each queue has available now.

An agent counts for a queue when their status on a channel is a staffed one (logged in and taking work:
``online``, ``available``, ``busy``, ``wrap_up``) and the agent's team, region, site and that channel match the
queue's ``where``. Anything else (``away``, ``offline``, ``transfers_only``, a break, training, a custom status)
is off the queue and is shown by its name. Events may arrive out of order (they travel on several partitions):
an update older than the one kept for the same agent and channel changes nothing, so replays are harmless.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from cxstream.domain.base import Json, StoredValueError, as_int, as_str, obj, opt_str, seq, to_ms
from cxstream.domain.ingest.events import CanonicalEvent, EventType

#: Statuses of an agent who is logged in and takes work from the queue.
STAFFED = frozenset({"online", "available", "busy", "wrap_up"})
#: The dimensions of a queue's ``where`` that an agent's presence answers.
PRESENCE_DIMENSIONS = ("team", "region", "site", "channel")


@dataclass(frozen=True)
class Presence:
    """One agent's status on one channel since ``since_ms`` (the event time of the change)."""

    agent_id: str
    channel: str
    status: str
    since_ms: int
    team: str | None = None
    region: str | None = None
    site: str | None = None

    @property
    def staffed(self) -> bool:
        return self.status in STAFFED

    @property
    def key(self) -> str:
        return f"{self.agent_id}|{self.channel}"

    def value_of(self, dimension: str) -> str | None:
        return {"team": self.team, "region": self.region, "site": self.site, "channel": self.channel}.get(dimension)

    def serves(self, where: Mapping[str, str]) -> bool:
        """Whether this presence is on a queue of scope ``where`` (a dimension it does not answer never matches)."""
        return all(self.value_of(name) == wanted for name, wanted in where.items())

    def to_json(self) -> dict[str, Json]:
        return {"agent_id": self.agent_id, "channel": self.channel, "status": self.status, "since_ms": self.since_ms,
                "team": self.team, "region": self.region, "site": self.site}  # fmt: skip

    @classmethod
    def from_json(cls, data: object) -> Presence:
        value = obj(data, "presence")
        return cls(
            agent_id=as_str(value.get("agent_id"), "agent_id"),
            channel=as_str(value.get("channel"), "channel"),
            status=as_str(value.get("status"), "status"),
            since_ms=as_int(value.get("since_ms"), "since_ms"),
            team=opt_str(value.get("team")),
            region=opt_str(value.get("region")),
            site=opt_str(value.get("site")),
        )

    @classmethod
    def of(cls, event: CanonicalEvent) -> Presence | None:
        """The presence an ``AGENT_STATUS`` event reports (its status is ``operation.status``); None for any
        other event or one without an agent, a channel or a status."""
        if event.event_type is not EventType.AGENT_STATUS or not event.agent_id or not event.channel:
            return None
        status = event.operation.status if event.operation else None
        if not status:
            return None
        return cls(event.agent_id, event.channel.lower(), status.lower(), to_ms(event.event_time),
                   event.team, event.region, event.site)  # fmt: skip


@dataclass(frozen=True)
class Floor:
    """A queue's agents now: how many are staffed, and the others by status."""

    staffed: int
    agents: int  # every agent of the queue with a known status
    by_status: Mapping[str, int] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        """Whether any agent-status event has named an agent of this queue (otherwise nothing is known)."""
        return self.agents > 0


@dataclass(frozen=True)
class Roster:
    """The latest presence per agent and channel."""

    entries: Mapping[str, Presence] = field(default_factory=dict)

    def apply(self, presence: Presence) -> Roster | None:
        """The roster with ``presence`` in it, or None when it changes nothing (older or the same as what is kept)."""
        kept = self.entries.get(presence.key)
        if kept is not None and (kept.since_ms > presence.since_ms or kept == presence):
            return None
        if kept is not None and kept.since_ms == presence.since_ms and kept.status == presence.status:
            merged = replace(kept, team=presence.team or kept.team, region=presence.region or kept.region,
                             site=presence.site or kept.site)  # fmt: skip
            if merged == kept:
                return None
            presence = merged
        return Roster({**self.entries, presence.key: presence})

    def floor(self, where: Mapping[str, str]) -> Floor:
        """The agents of a queue of scope ``where``: an agent staffed on any matching channel counts once."""
        status_of: dict[str, str] = {}
        for presence in self.entries.values():
            if not presence.serves(where):
                continue
            before = status_of.get(presence.agent_id)
            if before is None or (presence.staffed and before not in STAFFED):
                status_of[presence.agent_id] = presence.status
        counts = Counter(status_of.values())
        return Floor(sum(n for s, n in counts.items() if s in STAFFED), len(status_of), dict(sorted(counts.items())))

    def to_json(self) -> list[Json]:
        return [p.to_json() for p in sorted(self.entries.values(), key=lambda p: p.key)]

    @classmethod
    def from_json(cls, data: object) -> Roster:
        if data is None:
            return cls()
        try:
            items: Iterable[Presence] = (Presence.from_json(item) for item in seq(data, "roster"))
            return cls({p.key: p for p in items})
        except (KeyError, TypeError) as exc:
            raise StoredValueError(f"roster: {exc}") from exc
