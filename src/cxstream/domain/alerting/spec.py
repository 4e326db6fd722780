"""``topologies/alerting.yaml``: what raises an alert (threshold rules on windows, hot-alert rules on single
events), how alerts are routed to team topics (the Alertmanager-shaped tree), and how an escalation nobody
acknowledges climbs its ladder (PagerDuty-style escalation policies)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, field_validator

from cxstream.domain.alerting.hot_alerts import HotAlertRule
from cxstream.domain.alerting.matchers import matches_all, parse_all
from cxstream.domain.alerting.routing import AlertingRoutes, check_known_values
from cxstream.domain.alerting.thresholds import ThresholdRule
from cxstream.domain.base import Strict
from cxstream.domain.durations import parse_duration_ms


class LadderLevel(Strict):
    after: str = Field(description="unacknowledged this long after the previous level was notified")
    notify: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$", description="who is paged, e.g. team-lead, director")
    receiver: str | None = Field(None, description="team topic for this level; default: the route's receiver")

    @field_validator("after")
    @classmethod
    def _after(cls, value: str) -> str:
        if parse_duration_ms(value) < 1000:
            raise ValueError("wait at least a second before the next level")
        return value


class EscalationPolicy(Strict):
    """A ladder: level 0 is the routed notification to the team; each further level follows when nobody
    acknowledged the breach in time. The first policy whose matchers match the alert's labels applies."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_.-]{1,60}$")
    matchers: tuple[str, ...] = Field((), description="empty: every alert")
    levels: tuple[LadderLevel, ...] = Field(min_length=1)

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        check_known_values(parse_all(value))
        return value

    def applies(self, labels: Mapping[str, str]) -> bool:
        return matches_all(parse_all(self.matchers), labels)


def _unique_ids(kind: str, ids: list[str]) -> None:
    for item in ids:
        if ids.count(item) > 1:
            raise ValueError(f"{kind} id {item!r} is used twice")


class Alerting(Strict):
    thresholds: tuple[ThresholdRule, ...] = ()
    hot_alerts: tuple[HotAlertRule, ...] = ()
    routing: AlertingRoutes | None = None
    escalation_policies: tuple[EscalationPolicy, ...] = ()
    evaluate_every: str = Field("15s", description="how often threshold rules read the windows that ended")

    @field_validator("evaluate_every")
    @classmethod
    def _every(cls, value: str) -> str:
        if parse_duration_ms(value) < 1000:
            raise ValueError("evaluate at most once a second")
        return value

    @field_validator("thresholds")
    @classmethod
    def _unique(cls, value: tuple[ThresholdRule, ...]) -> tuple[ThresholdRule, ...]:
        _unique_ids("threshold rule", [rule.id for rule in value])
        return value

    @field_validator("hot_alerts")
    @classmethod
    def _unique_hot(cls, value: tuple[HotAlertRule, ...]) -> tuple[HotAlertRule, ...]:
        _unique_ids("hot-alert rule", [rule.id for rule in value])
        return value

    @field_validator("escalation_policies")
    @classmethod
    def _unique_policies(cls, value: tuple[EscalationPolicy, ...]) -> tuple[EscalationPolicy, ...]:
        _unique_ids("escalation policy", [policy.id for policy in value])
        return value

    @property
    def active(self) -> bool:
        return bool(self.thresholds or self.hot_alerts)

    def policy_for(self, labels: Mapping[str, str]) -> EscalationPolicy | None:
        return next((p for p in self.escalation_policies if p.applies(labels)), None)
