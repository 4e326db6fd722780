"""Realistic demo traffic: raw CRM (Salesforce), ERP (SAP) and helpdesk (Zendesk) records across regions, sites
and teams, with a share of malformed records and optional incidents. Pure and seeded: the same seed and
clock give the same records.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cxstream.domain.base import to_ms

# region -> (sales organisation, shipping point, contact-centre site, fulfilment site)
REGIONS: dict[str, tuple[str, str, str, str]] = {
    "emea": ("NL01", "AMS1", "lis-1", "ams-1"),
    "amer": ("US01", "CHI1", "aus-1", "chi-1"),
    "apac": ("SG01", "SIN1", "mnl-1", "sin-1"),
}
REGION_WEIGHTS = {"emea": 0.45, "amer": 0.35, "apac": 0.20}
#: The demo agent whose customers are less happy and whose tickets come back more (the scorecards' coaching case).
WEAK_AGENT = "900006"
HELPDESK_GROUPS = {"360004419": "customer-service", "360004420": "billing", "360004421": "field-service"}
REGION_FIELD, SITE_FIELD, HANDLE_FIELD = 360011, 360012, 360013

VERBATIMS = {
    "late": [
        "Parcel arrived {days} days late and nobody told me.",
        "Third late delivery this month.",
        "The tracking said delivered but it came {days} days later.",
    ],
    "slow_support": ["Waited two days for a first answer.", "Had to call three times before anyone helped."],
    "good": ["Fast delivery, thanks!", "Agent was friendly and solved it at once.", "Easy to order, arrived on time."],
    "billing": ["I was charged twice for one order.", "Refund still not on my card after two weeks."],
    "rude": ["The agent was rude and hung up on me."],
    # rare answers that must reach someone at once (hot alerts)
    "critical": [
        "Third late delivery this month, I am cancelling my account.",
        "If my refund is not here by Friday my lawyer will contact you.",
        "The heater you delivered gave off smoke when we switched it on. This is dangerous.",
    ],
}
CRITICAL_SHARE = 0.01  # of detractors' comments
SEGMENTS = {"consumer": 0.6675, "smb": 0.33, "enterprise": 0.002, "vip": 0.0005}
VERY_LATE_SHARE = 0.0002  # of deliveries: a lost parcel found a week later

INCIDENT_LATE = 0.95  # share of emea deliveries that slip during delivery-delay-emea

INCIDENTS = {
    "delivery-delay-emea": "deliveries in emea slip 2-5 days; CSAT after delivery and NPS there fall; complaints rise",
    "slow-support-apac": "first replies in apac take hours; helpdesk CSAT there falls",
}


@dataclass(frozen=True)
class RawRecord:
    source: str  # connector name: the record goes to cx.raw.<source>
    key: bytes | None
    value: bytes
    kind: str  # what the generator meant it to be, e.g. "erp.delivered" or "malformed.json"

    @property
    def topic(self) -> str:
        return f"cx.raw.{self.source}"


def _ms(at: datetime) -> int:
    return to_ms(at)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sf(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def handle_seconds(rng: random.Random, priority: str, channel: str, group: str | None = None, kind: str = "") -> int:
    """A realistic handle time: log-normal (median about 6 minutes), longer for urgent tickets, problems and
    billing, shorter on chat than by email and for plain questions."""
    median = 360.0 * {"low": 0.8, "normal": 1.0, "high": 1.6, "urgent": 2.0}.get(priority, 1.0)
    median *= {"question": 0.8, "incident": 1.3, "problem": 1.8}.get(kind, 1.0)
    median *= {"chat": 0.7, "email": 1.2}.get(channel, 1.0)
    median *= 1.5 if group == "360004420" else 1.0  # billing disputes take longest
    return max(30, round(rng.lognormvariate(math.log(median), 0.5)))


class DemoTraffic:
    """Call :meth:`next` for one raw record at a given time."""

    def __init__(
        self,
        seed: int = 7,
        malformed_share: float = 0.02,
        incident: str | None = None,
        incident_start: datetime | None = None,
        customers_per_region: int = 400,
        incident_end: datetime | None = None,
    ) -> None:
        if incident is not None and incident not in INCIDENTS:
            raise ValueError(f"unknown incident {incident!r} (known: {', '.join(INCIDENTS)})")
        if not 0 <= malformed_share <= 1:
            raise ValueError("malformed_share must be between 0 and 1")
        self.rng = random.Random(seed)
        self.seed = seed
        self.malformed_share = malformed_share
        self.incident = incident
        self.incident_start = incident_start
        self.incident_end = incident_end  # None: the incident goes on
        self.customers = {
            region: [f"CUST-{region[:2].upper()}{i:05d}" for i in range(customers_per_region)] for region in REGIONS
        }
        self._counter = 0
        self._recent: list[RawRecord] = []
        self._replies_due: list[tuple[datetime, str]] = []  # heap of (first reply time, ticket id)
        self._open: dict[str, dict[str, Any]] = {}  # ticket id -> ticket, replied to and not solved yet
        self._solved: dict[str, dict[str, Any]] = {}  # ticket id -> ticket, solved and not rated yet
        self._kinds: list[tuple[float, Callable[[datetime, str], RawRecord]]] = [
            (0.12, self._sales_order),
            (0.10, self._goods_issued),
            (0.16, self._delivered),
            (0.18, self._delivery_survey),
            (0.05, self._nps_survey),
            (0.10, self._ticket_created),
            (0.08, self._ticket_reply),
            (0.05, self._first_reply_metric),
            (0.07, self._ticket_solved),
            (0.05, self._rating),
            (0.02, self._complaint),
            (0.02, self._canonical_ces),
        ]

    # --- driving ----------------------------------------------------------------------------------

    def incident_active(self, now: datetime, name: str) -> bool:
        started = self.incident_start is None or now >= self.incident_start
        return self.incident == name and started and (self.incident_end is None or now < self.incident_end)

    def next(self, now: datetime) -> RawRecord:
        self._counter += 1
        if self.rng.random() < self.malformed_share:
            record = self._malformed(now)
        else:
            region = self.rng.choices(list(REGION_WEIGHTS), weights=list(REGION_WEIGHTS.values()))[0]
            record = self.rng.choices([f for _, f in self._kinds], weights=[w for w, _ in self._kinds])[0](now, region)
        self._recent = [*self._recent[-49:], record]
        return record

    def _id(self, prefix: str) -> str:
        return f"{prefix}{self.seed:03d}{self._counter:08d}"

    def _customer(self, region: str) -> str:
        return self.rng.choice(self.customers[region])

    def _json(self, source: str, payload: dict[str, Any], key: str | None, kind: str) -> RawRecord:
        return RawRecord(
            source, key.encode() if key else None, json.dumps(payload, separators=(",", ":")).encode(), kind
        )

    def _late_days(self, now: datetime, region: str) -> int:
        if self.incident_active(now, "delivery-delay-emea") and region == "emea" and self.rng.random() < INCIDENT_LATE:
            return self.rng.randint(2, 5)
        if self.rng.random() < VERY_LATE_SHARE:
            return self.rng.randint(6, 9)
        return 1 if self.rng.random() < 0.08 else 0

    # --- ERP ------------------------------------------------------------------------------------------

    def _sales_order(self, now: datetime, region: str) -> RawRecord:
        org, *_ = REGIONS[region]
        order = self._id("45")
        payload = {
            "DocumentType": "SalesOrder",
            "SalesOrder": order,
            "SalesOrderType": "OR",
            "SalesOrganization": org,
            "DistributionChannelName": self.rng.choice(["Web", "App", "Phone"]),
            "SoldToParty": self._customer(region),
            "CreationDate": f"/Date({_ms(now)})/",
            "RequestedDeliveryDate": (now + timedelta(days=self.rng.randint(1, 4))).date().isoformat(),
            "OverallSDProcessStatus": "A",
            "TotalNetAmount": f"{self.rng.uniform(15, 900):.2f}",
            "TransactionCurrency": {"emea": "EUR", "amer": "USD", "apac": "SGD"}[region],
        }
        return self._json("erp", payload, order, "erp.order")

    def _delivery(self, now: datetime, region: str, delivered: bool) -> RawRecord:
        org, point, *_ = REGIONS[region]
        late = self._late_days(now, region) if delivered else 0
        promised = (now - timedelta(days=late)).date()
        delivery = self._id("80")
        payload: dict[str, Any] = {
            "DocumentType": "OutboundDelivery",
            "DeliveryDocument": delivery,
            "ReferenceSDDocument": self._id("45"),
            "SoldToParty": self._customer(region),
            "ShippingPoint": point,
            "SalesOrganization": org,
            "PlannedGoodsIssueDate": (promised - timedelta(days=2)).isoformat(),
            "ActualGoodsMovementDate": (now - timedelta(days=late + 1 if delivered else 0)).date().isoformat(),
            "DeliveryDate": promised.isoformat(),
            "OverallGoodsMovementStatus": "C",
            "LastChangeDateTime": _iso(now),
        }
        if delivered:
            payload["ProofOfDeliveryDate"] = _iso(now)
        return self._json("erp", payload, delivery, "erp.delivered" if delivered else "erp.goods_issued")

    def _goods_issued(self, now: datetime, region: str) -> RawRecord:
        return self._delivery(now, region, delivered=False)

    def _delivered(self, now: datetime, region: str) -> RawRecord:
        return self._delivery(now, region, delivered=True)

    # --- CRM ------------------------------------------------------------------------------------------

    def _survey(
        self, now: datetime, region: str, metric: str, score: int, comment: str | None, **extra: str
    ) -> RawRecord:
        *_, site = REGIONS[region]
        record_id = self._id("a0B")
        payload = {
            "attributes": {"type": "Survey_Response__c"},
            "Id": record_id,
            "CreatedDate": _sf(now - timedelta(seconds=self.rng.randint(0, 120))),
            "Contact__c": self._customer(region),
            "Survey_Type__c": metric,
            "Score__c": score,
            "Comment__c": comment,
            "Language__c": "en",
            "Region__c": region.upper(),
            "Site__c": site.upper(),
            "Channel__c": "Email",
            "Segment__c": self.rng.choices(list(SEGMENTS), weights=list(SEGMENTS.values()))[0],
            **extra,
        }
        return self._json("crm", payload, record_id, f"crm.survey.{metric.lower()}")

    def _detractor_comment(self, usual: str) -> str:
        return self.rng.choice(VERBATIMS["critical"]) if self.rng.random() < CRITICAL_SHARE else usual

    def _delivery_survey(self, now: datetime, region: str) -> RawRecord:
        late = self._late_days(now, region)
        comment: str | None
        if late:  # the later, the angrier
            weights = [35, 30, 20, 10, 5] if late == 1 else [50, 30, 12, 5, 3]
            score = self.rng.choices([1, 2, 3, 4, 5], weights=weights)[0]
            comment = self.rng.choice(VERBATIMS["late"]).format(days=late)
            comment = self._detractor_comment(comment) if score <= 2 else comment
        else:
            score = self.rng.choices([1, 2, 3, 4, 5], weights=[2, 3, 8, 37, 50])[0]
            comment = self.rng.choice(VERBATIMS["good"]) if self.rng.random() < 0.3 else None
        promised = now - timedelta(hours=late * 24 + self.rng.uniform(-6, 6) + 30)  # answered about a day later
        delivered = promised + timedelta(hours=late * 24 + self.rng.uniform(-6, 6))
        return self._survey(
            now, region, "CSAT", score, comment,
            Journey_Stage__c="delivery", Touchpoint__c="delivery", Team__c="logistics", Order__c=self._id("45"),
            Promised_Delivery__c=_sf(promised), Delivered__c=_sf(delivered),
        )  # fmt: skip

    def _nps_survey(self, now: datetime, region: str) -> RawRecord:
        slipping = self.incident_active(now, "delivery-delay-emea") and region == "emea"
        weights = [6, 3, 3, 4, 5, 6, 9, 14, 15, 18, 17] if slipping else [1, 1, 1, 1, 2, 3, 5, 12, 20, 27, 27]
        score = self.rng.choices(range(11), weights=weights)[0]
        comment = self.rng.choice(VERBATIMS["late"]).format(days=3) if score <= 6 and slipping else None
        comment = self._detractor_comment(comment) if score <= 6 and comment else comment
        return self._survey(
            now, region, "NPS", score, comment, Journey_Stage__c="relationship", Team__c="cx-operations"
        )

    def _complaint(self, now: datetime, region: str) -> RawRecord:
        *_, site = REGIONS[region]
        case_id = self._id("500")
        slipping = self.incident_active(now, "delivery-delay-emea") and region == "emea"
        theme = "late" if slipping or self.rng.random() < 0.4 else self.rng.choice(["billing", "rude"])
        payload = {
            "attributes": {"type": "Case"},
            "Id": case_id,
            "CaseNumber": f"{self._counter:08d}",
            "ContactId": self._customer(region),
            "OwnerId": f"005AG{self.rng.randint(1, 40):04d}",
            "Type": "Complaint",
            "Origin": self.rng.choice(["Phone", "Email", "Web"]),
            "Status": "New",
            "Priority": "High" if theme != "billing" else "Medium",
            "Subject": "Complaint",
            "Description": self.rng.choice(VERBATIMS[theme]).format(days=3),
            "Region__c": region.upper(),
            "Site__c": site.upper(),
            "Team__c": "logistics" if theme == "late" else ("billing" if theme == "billing" else "customer-service"),
            "CreatedDate": _sf(now),
        }
        return self._json("crm", payload, case_id, "crm.complaint")

    # --- helpdesk -----------------------------------------------------------------------------------

    def _ticket(self, region: str, status: str, created: datetime, assignee: str | None) -> dict[str, Any]:
        *_, contact_site, _ = REGIONS[region]
        group = self.rng.choices(list(HELPDESK_GROUPS), weights=[70, 20, 10])[0]
        return {
            "id": str(40000 + self._counter),
            "requester_id": self._customer(region),
            "assignee_id": assignee,
            "group_id": group,
            "status": status,
            "priority": self.rng.choice(["LOW", "NORMAL", "NORMAL", "HIGH"]),
            "type": self.rng.choices(["question", "incident", "problem", "task"], weights=[50, 30, 12, 8])[0],
            "via": {"channel": self.rng.choice(["web_form", "email", "chat"])},
            "created_at": _iso(created),
            "updated_at": _iso(created),
            "custom_fields": [{"id": REGION_FIELD, "value": region}, {"id": SITE_FIELD, "value": contact_site}],
        }

    def _agent(self, region: str, ticket: dict[str, Any] | None = None) -> str:
        """An agent of the region's floor (demo.floor): chat 1-4, email 5-8, billing 9-11 by the ticket."""
        low, high = 5, 8
        if ticket is not None and HELPDESK_GROUPS.get(ticket["group_id"]) == "billing":
            low, high = 9, 11
        elif ticket is not None and ticket["via"]["channel"] == "chat":
            low, high = 1, 4
        return f"9{list(REGIONS).index(region)}{self.rng.randint(low, high):04d}"

    @staticmethod
    def _keep(pool: dict[str, dict[str, Any]], ticket: dict[str, Any]) -> None:
        pool[str(ticket["id"])] = ticket
        if len(pool) > 2_000:  # bound the memory: the oldest leave the demo's ticket lives
            del pool[next(iter(pool))]

    def _zen(self, now: datetime, kind: str, ticket: dict[str, Any], event: dict[str, Any], label: str) -> RawRecord:
        payload = {
            "type": f"zen:event-type:{kind}",
            "account_id": 2117,
            "id": self._id("01JD"),
            "time": _iso(now),
            "zendesk_event_version": "2022-11-06",
            "subject": f"zen:ticket:{ticket['id']}",
            "detail": ticket,
            "event": event,
        }
        return self._json("helpdesk", payload, str(ticket["id"]), label)

    def _support_wait(self, now: datetime, region: str) -> timedelta:
        if self.incident_active(now, "slow-support-apac") and region == "apac":
            return timedelta(hours=self.rng.uniform(4, 30))
        return timedelta(minutes=self.rng.expovariate(1 / 45))

    def _ticket_created(self, now: datetime, region: str) -> RawRecord:
        ticket = self._ticket(region, "NEW", now, None)
        self._keep(self._open, ticket)
        heapq.heappush(self._replies_due, (now + self._support_wait(now, region), str(ticket["id"])))
        if len(self._replies_due) > 5_000:  # tickets that never get a tracked first reply: bound the memory
            heapq.heappop(self._replies_due)
        return self._zen(now, "ticket.created", ticket, {}, "helpdesk.created")

    def _ticket_reply(self, now: datetime, region: str) -> RawRecord:
        """A public reply on an open ticket (mostly by its assignee), now and then a solved one reopened."""
        if self._solved and self.rng.random() < 0.06:
            ticket = self._solved.pop(self.rng.choice(list(self._solved)))
            reopen_rate = 0.5 if ticket["assignee_id"] == WEAK_AGENT else 0.12
            if self.rng.random() < reopen_rate:
                self._keep(self._open, ticket)
                ticket = {**ticket, "status": "OPEN"}
                return self._zen(now, "ticket.status_changed", ticket, {"current": "OPEN", "previous": "SOLVED"},
                                 "helpdesk.reopened")  # fmt: skip
        mine = [t for t in self._open.values() if t["custom_fields"][0]["value"] == region]
        if mine:
            ticket = self.rng.choice(mine[-200:])
            if ticket["assignee_id"] is None or self.rng.random() < 0.15:
                ticket["assignee_id"] = self._agent(region, ticket)
            ticket["replies"] = ticket.get("replies", 0) + 1
            ticket = {k: v for k, v in ticket.items() if k != "replies"} | {"status": "OPEN"}
        else:
            ticket = self._ticket(region, "OPEN", now - self._support_wait(now, region), None)
            ticket["assignee_id"] = self._agent(region, ticket)
            self._keep(self._open, ticket)
        agent = ticket["assignee_id"]
        comment = {"id": self._id("77"), "is_public": True, "author": {"id": agent, "is_staff": True}}
        return self._zen(now, "ticket.comment_added", ticket, {"comment": comment}, "helpdesk.reply")

    def _first_reply_metric(self, now: datetime, region: str) -> RawRecord:
        """The first public reply to a ticket created earlier, once its (region-dependent) wait is over."""
        if not self._replies_due or self._replies_due[0][0] > now:
            return self._ticket_created(now, region)
        _, ticket_id = heapq.heappop(self._replies_due)
        payload = {
            "id": int(self._id("9")),
            "ticket_id": int(ticket_id),
            "metric": "reply_time",
            "instance_id": 1,
            "type": "fulfill",
            "time": _iso(now),
        }
        return self._json("helpdesk", payload, str(payload["ticket_id"]), "helpdesk.first_reply")

    def _ticket_solved(self, now: datetime, region: str) -> RawRecord:
        """An open ticket that was replied to, solved by its assignee (a new one when none is open)."""
        replied = [
            k for k, t in self._open.items() if t.get("assignee_id") and t["custom_fields"][0]["value"] == region
        ]
        if replied:
            kept = self._open.pop(self.rng.choice(replied[:200]))
            ticket = {k: v for k, v in kept.items() if k != "replies"} | {"status": "SOLVED"}
            ticket["custom_fields"] = list(kept["custom_fields"])
        else:
            ticket = self._ticket(region, "SOLVED", now - self._support_wait(now, region) * 3, None)
            ticket["assignee_id"] = self._agent(region, ticket)
        self._keep(self._solved, ticket)
        ticket["custom_fields"].append({"id": HANDLE_FIELD, "value": str(self._handle_seconds(ticket))})
        return self._zen(
            now, "ticket.status_changed", ticket, {"current": "SOLVED", "previous": "OPEN"}, "helpdesk.solved"
        )

    @staticmethod
    def _complex(ticket: dict[str, Any]) -> bool:
        """The shipped tier rule for complex contacts: problems, high or urgent priority, billing."""
        return (ticket["type"] == "problem" or ticket["priority"].lower() in ("high", "urgent")
                or HELPDESK_GROUPS.get(ticket["group_id"]) == "billing")  # fmt: skip

    def _handle_seconds(self, ticket: dict[str, Any]) -> int:
        """Agent time on a ticket: log-normal around 6 minutes, longer for urgent tickets, billing and email."""
        return handle_seconds(self.rng, ticket["priority"].lower(), ticket["via"]["channel"], ticket["group_id"],
                              ticket["type"])  # fmt: skip

    def _rating(self, now: datetime, region: str) -> RawRecord:
        """A customer's rating of a solved ticket (of one just made up when none waits)."""
        slow = self._support_wait(now, region) > timedelta(hours=3)
        mine = [k for k, t in self._solved.items() if t["custom_fields"][0]["value"] == region]
        if mine:
            ticket = self._solved.pop(self.rng.choice(mine[-200:]))
        else:
            ticket = self._ticket(region, "SOLVED", now, None)
            ticket["assignee_id"] = self._agent(region, ticket)
        weak = ticket["assignee_id"] == WEAK_AGENT
        chance = 0.35 if slow else 0.5 if weak else 0.86
        handled = next((int(f["value"]) for f in ticket["custom_fields"] if f["id"] == HANDLE_FIELD), None)
        if handled is not None and self._complex(ticket):  # complex contacts rushed are rated worse
            chance += 0.3 * (min(handled, 1500) / 1500 - 0.45)
        good = self.rng.random() < chance
        rating = {
            "id": int(self._id("3")),
            "assignee_id": ticket["assignee_id"],
            "group_id": ticket["group_id"],
            "requester_id": ticket["requester_id"],
            "ticket_id": int(ticket["id"]),
            "score": "good" if good else "bad",
            "comment": self.rng.choice(VERBATIMS["good" if good else "slow_support"]),
            "region": region,
            "site": REGIONS[region][2],
            "created_at": _iso(now),
        }
        return self._json("helpdesk", {"satisfaction_rating": rating}, str(rating["ticket_id"]), "helpdesk.rating")

    # --- canonical --------------------------------------------------------------------------------

    def _canonical_ces(self, now: datetime, region: str) -> RawRecord:
        event_id = self._id("app:ces:")
        payload = {
            "event_id": event_id,
            "event_type": "SURVEY_RESPONSE",
            "event_time": _iso(now),
            "customer_id": self._customer(region),
            "region": region,
            "site": REGIONS[region][2],
            "team": "customer-service",
            "channel": "app",
            "journey_stage": "support",
            "touchpoint": "ticket_resolution",
            "survey": {"metric": "CES", "score": self.rng.choices(range(1, 8), weights=[3, 4, 6, 10, 20, 30, 27])[0],
                       "scale_min": 1, "scale_max": 7},
            "source": "mobile-app",
        }  # fmt: skip
        return self._json("canonical", payload, event_id, "canonical.ces")

    # --- malformed --------------------------------------------------------------------------------

    def _malformed(self, now: datetime) -> RawRecord:
        choice = self.rng.randrange(7)
        if choice == 0:
            return RawRecord(
                "helpdesk", b"bad", b'{"type": "zen:event-type:ticket.created", "detail": {', "malformed.json"
            )
        if choice == 1:
            return RawRecord("crm", None, b"\xff\xfe\x00Survey\x00", "malformed.utf8")
        if choice == 2:  # a solved ticket without its agent
            record = self._ticket_solved(now, "emea")
            payload = json.loads(record.value)
            payload["detail"]["assignee_id"] = None
            return RawRecord("helpdesk", record.key, json.dumps(payload).encode(), "malformed.missing_agent")
        if choice == 3:  # a clock a day ahead
            record = self._delivery_survey(now, "amer")
            payload = json.loads(record.value)
            payload["CreatedDate"] = _sf(now + timedelta(days=1))
            return RawRecord("crm", record.key, json.dumps(payload).encode(), "malformed.future")
        if choice == 4:  # NPS 11
            record = self._nps_survey(now, "apac")
            payload = json.loads(record.value)
            payload["Score__c"] = 11
            return RawRecord("crm", record.key, json.dumps(payload).encode(), "malformed.score")
        if choice == 5:
            return RawRecord("erp", b"x", b'{"DocumentType": "OutboundDelivery"}', "malformed.missing_id")
        if self._recent:  # a retry of something already sent
            again = self.rng.choice(self._recent)
            return RawRecord(again.source, again.key, again.value, "duplicate")
        return RawRecord("erp", None, b"[]", "malformed.shape")
