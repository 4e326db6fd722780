"""Every Kafka topic and Faust table cxstream names, in one place. Code refers to these roles, never to the
strings. The topics other systems read or write are declared in ``topologies/topics.yaml`` (partitions,
retention, schema); the topology loader checks that each is declared, so a catalog topic missing from the
YAML fails at start naming the file (``config.topology.load_topology``). Internal topics and tables are
Faust's (their changelogs follow the application id) and are not declared there."""

from __future__ import annotations

from typing import Final


class Topics:
    """Topics shared with other systems: declared in ``topologies/topics.yaml``."""

    NAMESPACE: Final = "cx."  # every shared topic's name starts so (cxstream reports undeclared ones)
    EVENTS: Final = "cx.events"  # canonical events, the one input of metrics and alerts
    DLQ: Final = "cx.dlq"  # dead letters: original bytes and reasons
    BREACHES: Final = "cx.breaches"  # breach lifecycle
    CASES: Final = "cx.cases"  # compacted: the latest state of each case
    CASE_ACTIONS: Final = "cx.case-actions"  # the audit trail of every case
    SILENCES: Final = "cx.silences"
    CALENDAR: Final = "cx.workforce-calendar"  # compacted: planned trainings and changes that take agents away
    REMEDIATION: Final = "cx.remediation"  # the audit trail of remediation items: proposals to verdicts
    GOVERNANCE: Final = "cx.governance"  # scaling proposals, votes and decisions
    TARGETS: Final = "cx.targets"  # compacted: versioned CX targets and proposals
    AUDITS: Final = "cx.audits"  # compacted: each audited period's result
    EXPERIMENTS: Final = "cx.experiments"  # compacted: experiments and their arms, read by every worker
    PARTNER_FEEDBACK: Final = "cx.partner-feedback"  # compacted: partners' reports on playbook steps
    SURVEY_INVITES: Final = "cx.survey-invites"
    HANDOVERS: Final = "cx.handovers"  # compacted: each team's shift handovers, with their acknowledgement
    HANDOVER_ACKS: Final = "cx.handover-acks"  # acknowledgements of handovers: the audit trail
    HISTORY: Final = "cx.metrics.history"  # compacted: closed days and intervals of every metric, for years
    RAW_PREFIX: Final = "cx.raw."  # + connector name: records exactly as the source sent them
    ESCALATION_PREFIX: Final = "cx.escalations."  # + team id: what the team is paged with

    @classmethod
    def required(cls) -> tuple[str, ...]:
        """The fixed topics a topology must declare."""
        return (
            cls.EVENTS,
            cls.DLQ,
            cls.BREACHES,
            cls.CASES,
            cls.CASE_ACTIONS,
            cls.SILENCES,
            cls.SURVEY_INVITES,
            cls.HISTORY,
        )

    @classmethod
    def raw(cls, connector: str) -> str:
        return f"{cls.RAW_PREFIX}{connector}"

    @classmethod
    def escalations(cls, team: str) -> str:
        return f"{cls.ESCALATION_PREFIX}{team}"


class Internal:
    """Faust-internal topics (partitioned like the tables they feed)."""

    ALERTING_CONTROL: Final = "cxstream-alerting-control"
    CASE_CLOCK: Final = "cxstream-case-clock"
    CASE_SUBJECTS: Final = "cxstream-case-subjects"
    CONTACTS: Final = "cxstream-contacts"
    REMEDIATION_EVIDENCE: Final = "cxstream-remediation-evidence"  # each worker's partial sums for the verdicts


class Tables:
    """Faust tables (each with its changelog topic)."""

    METRICS: Final = "cxstream-metrics"
    METRICS_SEEN: Final = "cxstream-metrics-seen"
    SEEN_EVENT_IDS: Final = "cxstream-seen-event-ids"
    TICKET_CREATED: Final = "cxstream-ticket-created"
    BREACH_STATE: Final = "cxstream-breach-state"
    ESCALATION_STATE: Final = "cxstream-escalation-state"
    AGENT_PRESENCE: Final = "cxstream-agent-presence"
    STAFFING_GAPS: Final = "cxstream-staffing-gaps"
    EXECUTION_GAPS: Final = "cxstream-execution-gaps"
    AUDIT_STATES: Final = "cxstream-audit-states"  # each audited scope's last period judged and open drift
    CASES: Final = "cxstream-cases"
    CASE_SUBJECTS_INDEX: Final = "cxstream-case-subjects-index"
    CONTACT_HISTORY: Final = "cxstream-contact-history"
    INVITE_CAPS: Final = "cxstream-invite-caps"
