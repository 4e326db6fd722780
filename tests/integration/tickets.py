"""Ticket lives for the scorecard tests: canonical records of a team's tickets (replies, solves, reopens and
ratings by several agents, one of them weaker), and the scorecard counted from them independently, by hand,
with the last-reply attribution rule."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

AGENTS = ("b1", "b2", "b3", "b4", "b5", "b6")
WEAK = "b6"  # its customers are less happy and its tickets come back more


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Expected:
    csat: dict[str, list[int]] = field(default_factory=dict)  # agent -> [good, n]
    fcr: dict[str, list[int]] = field(default_factory=dict)
    reopened: dict[str, list[int]] = field(default_factory=dict)  # agent -> [reopened, solved]
    tickets: int = 0


def ticket_records(tag: str, start: datetime, team: str = "billing", count: int = 60,
                   seed: int = 3) -> tuple[list[bytes], Expected]:  # fmt: skip
    """``count`` tickets of ``team`` opened from ``start`` on (a minute apart), and the expected scorecard."""
    rng = random.Random(seed)
    agents = [f"{tag}-{a}" for a in AGENTS]  # the test's own agents: other tests' tickets cannot mix in
    records: list[dict[str, object]] = []
    expected = Expected(tickets=count)
    for i in range(count):
        ticket, customer = f"{tag}-T{i}", f"{tag}-C{i}"
        opened = start + timedelta(minutes=i)
        owner = agents[i % len(agents)]
        base = {"source": "zendesk-export", "customer_id": customer, "team": team, "region": "emea", "site": "lis-1",
                "channel": "email", "journey_stage": "support", "touchpoint": "ticket_resolution"}  # fmt: skip

        def add(kind: str, at: datetime, agent: str | None = None, ticket: str = ticket, base: dict = base,
                **extra: object) -> None:  # fmt: skip
            event_id = f"{tag}-{len(records)}"
            operation: dict[str, object] = {"ticket_id": ticket, **extra.pop("operation", {})}  # type: ignore[dict-item]
            records.append({**base, "event_id": event_id, "source_record_id": event_id, "event_type": kind,
                            "event_time": _iso(at), "agent_id": agent, "operation": operation, **extra})  # fmt: skip

        add("TICKET_CREATED", opened, operation={"created_at": _iso(opened)})
        replies = 1 if rng.random() < 0.6 else rng.randint(2, 3)
        repliers = [owner if k == 0 or rng.random() < 0.7 else rng.choice(agents) for k in range(replies)]
        for k, agent in enumerate(repliers):
            add("TICKET_REPLY", opened + timedelta(seconds=20 + k * 5), agent)
        solved = opened + timedelta(seconds=40)
        add("TICKET_SOLVED", solved, owner, operation={"created_at": _iso(opened), "actual_at": _iso(solved),
                                                       "handle_seconds": rng.randint(200, 900)})  # fmt: skip
        weak = owner.endswith(f"-{WEAK}")
        reopened = rng.random() < (0.4 if weak else 0.1)
        if reopened:
            add("TICKET_REOPENED", opened + timedelta(seconds=50), None)
        fcr = expected.fcr.setdefault(owner, [0, 0])
        fcr[0] += int(replies <= 1 and not reopened)
        fcr[1] += 1
        back = expected.reopened.setdefault(owner, [0, 0])
        back[0] += int(reopened)
        back[1] += 1
        if rng.random() < 0.85:  # rated: credited to the last replier before the rating
            score = rng.choice((1, 2, 3)) if rng.random() < (0.6 if weak else 0.15) else rng.choice((4, 5))
            add("SURVEY_RESPONSE", opened + timedelta(seconds=55), owner,
                survey={"metric": "CSAT", "score": score, "scale_min": 1, "scale_max": 5,
                        "verbatim": "Still waiting for my refund" if score < 4 else "Thanks"})  # fmt: skip
            credited = expected.csat.setdefault(repliers[-1], [0, 0])
            credited[0] += int(score >= 4)
            credited[1] += 1
    return [json.dumps(r).encode() for r in records], expected
