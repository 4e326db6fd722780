"""The demo's contact-centre floor: agents' status changes as a workforce or telephony system would send them
(canonical ``AGENT_STATUS`` records: agent, team, region, site, channel and the status in ``operation.status``).

Every agent logs in when the demo starts; now and then one takes a short break; and every 30 minutes the EMEA
chat agents go to a 10-minute team meeting together, which leaves the queue without agents while contacts are
forecast: the staffing gap the workforce module must raise (and clear when they are back).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from cxstream.demo.traffic import REGIONS, RawRecord

#: Per region: the agents answering chat, email, and billing (email); ids as the helpdesk names its assignees.
CHAT, EMAIL, BILLING = range(1, 5), range(5, 9), range(9, 12)
MEETING_EVERY = timedelta(minutes=30)
MEETING_LENGTH = timedelta(minutes=10)
MEETING_AFTER = timedelta(minutes=3)  # the first meeting starts this long after the demo


def agent_id(region: str, number: int) -> str:
    return f"9{list(REGIONS).index(region)}{number:04d}"


@dataclass(frozen=True)
class Seat:
    agent: str
    region: str
    channel: str
    team: str


def seats() -> list[Seat]:
    out = []
    for region in REGIONS:
        out += [Seat(agent_id(region, n), region, "chat", "customer-service") for n in CHAT]
        out += [Seat(agent_id(region, n), region, "email", "customer-service") for n in EMAIL]
        out += [Seat(agent_id(region, n), region, "email", "billing") for n in BILLING]
    return out


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class DemoFloor:
    """Call :meth:`due` with the time: the status records that fell due since the last call."""

    def __init__(self, start: datetime, seed: int = 7) -> None:
        self.rng = random.Random(seed * 31 + 5)
        self.start = start
        self.seats = seats()
        self._count = 0
        self._logged_in = False
        self._away: dict[str, datetime] = {}  # agent -> back at (short breaks)
        self._meeting: bool = False
        self._next_break = start + timedelta(seconds=40)

    def _record(self, seat: Seat, status: str, now: datetime) -> RawRecord:
        self._count += 1
        event_id = f"floor:{self.start:%Y%m%d%H%M%S}:{self._count}"
        payload = {
            "event_id": event_id, "event_type": "AGENT_STATUS", "event_time": _iso(now), "source": "acd",
            "source_record_id": event_id, "agent_id": seat.agent, "team": seat.team, "region": seat.region,
            "site": REGIONS[seat.region][2], "channel": seat.channel, "operation": {"status": status},
        }  # fmt: skip
        return RawRecord("canonical", seat.agent.encode(), json.dumps(payload, separators=(",", ":")).encode(),
                         "floor.status")  # fmt: skip

    def in_meeting(self, now: datetime) -> bool:
        since = now - self.start - MEETING_AFTER
        return since >= timedelta(0) and since % MEETING_EVERY < MEETING_LENGTH

    def due(self, now: datetime) -> list[RawRecord]:
        out = []
        if not self._logged_in:
            self._logged_in = True
            out += [self._record(seat, "online", now) for seat in self.seats]
        meeting = self.in_meeting(now)
        if meeting != self._meeting:
            self._meeting = meeting
            chat = [s for s in self.seats if s.region == "emea" and s.channel == "chat"]
            out += [self._record(seat, "away" if meeting else "online", now) for seat in chat]
        for agent, back in list(self._away.items()):
            if now >= back:
                del self._away[agent]
                seat = next(s for s in self.seats if s.agent == agent)
                if not (meeting and seat.region == "emea" and seat.channel == "chat"):
                    out.append(self._record(seat, "online", now))
        if now >= self._next_break:
            self._next_break = now + timedelta(seconds=self.rng.uniform(30, 90))
            seat = self.rng.choice([s for s in self.seats if s.agent not in self._away])
            self._away[seat.agent] = now + timedelta(minutes=self.rng.uniform(2, 6))
            if not (meeting and seat.region == "emea" and seat.channel == "chat"):
                out.append(self._record(seat, "away", now))
        return out
