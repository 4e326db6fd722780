"""Every Prometheus metric of cxstream, defined once, each with its help text.

Code elsewhere imports these objects; it never creates metrics of its own. Names follow the Prometheus
conventions (``_total`` counters, base units, ``cxstream_`` prefix).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call] # no *_created series: they double the exposition and no dashboard uses them
REGISTRY = CollectorRegistry(auto_describe=True)

BUILD_INFO = Info(
    "cxstream_build",
    "Version of cxstream and the worker's application id.",
    registry=REGISTRY,
)

# --- Kafka traffic (all agents, from the Faust sensor) -----------------------------------------
MESSAGES_IN = Counter(
    "cxstream_messages_in_total",
    "Kafka messages consumed by this worker, by topic.",
    ["topic"],
    registry=REGISTRY,
)
MESSAGES_OUT = Counter(
    "cxstream_messages_out_total",
    "Kafka messages this worker produced and the broker acknowledged, by topic.",
    ["topic"],
    registry=REGISTRY,
)
SEND_ERRORS = Counter(
    "cxstream_send_errors_total",
    "Kafka produce requests that failed, by topic.",
    ["topic"],
    registry=REGISTRY,
)

# --- Consumer group -----------------------------------------------------------------------------
REBALANCES = Counter(
    "cxstream_rebalances_total",
    "Consumer-group rebalances this worker went through.",
    registry=REGISTRY,
)
REBALANCE_SECONDS = Histogram(
    "cxstream_rebalance_duration_seconds",
    "Time from the start of a rebalance to its end (including table recovery).",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
READY = Gauge(
    "cxstream_ready",
    "1 when the worker is ready: broker reachable, partitions assigned, tables recovered.",
    registry=REGISTRY,
)
WORKER_RESTARTS = Gauge(
    "cxstream_worker_restarts",
    "Times the supervisor (cxstream worker / run) started this worker again after it exited, since the "
    "supervisor started.",
    registry=REGISTRY,
)

# --- Fencing and recovery: stale writes never win, rebalances do not stop the worker ------------
OWNER_EPOCHS = Counter(
    "cxstream_changelog_owner_epochs_total",
    "Changelog partitions this worker became the owner of (each with a new epoch), by table.",
    ["table"],
    registry=REGISTRY,
)
EVENTS_READ_BACK = Counter(
    "cxstream_events_read_back_total",
    "Canonical events this worker read back from cx.events, by reader and by whether the event it had published "
    "itself was still at hand (found) or had to be decoded again (decoded).",
    ["reader", "outcome"],
    registry=REGISTRY,
)
CHANGELOG_COALESCED = Counter(
    "cxstream_changelog_coalesced_total",
    "Table writes replaced by a newer write of the same key before their batch went to Kafka (only the newest "
    "is sent), by changelog topic.",
    ["topic"],
    registry=REGISTRY,
)
CHANGELOG_FENCED = Counter(
    "cxstream_changelog_fenced_total",
    "Changelog records not applied in recovery or on a standby copy because a worker that had lost the "
    "partition wrote them (their epoch is older than the partition's newest), by table.",
    ["table"],
    registry=REGISTRY,
)
RECOVERY_HIGHWATER = Counter(
    "cxstream_recovery_highwater_total",
    "Changelog partitions whose listed high watermark was not their end, by outcome: extended (the listed end "
    "stopped inside the last record batch; recovery read to the fetched end), corrected (a local copy ahead "
    "of the listed end was right) or discarded (the copy was dropped and read again from the changelog).",
    ["outcome"],
    registry=REGISTRY,
)
RECORDS_SKIPPED = Counter(
    "cxstream_records_skipped_total",
    "Records a stream skipped (fetched before a rebalance, or while a recovery held the flow), left "
    "uncommitted so that they are read again, by topic.",
    ["topic"],
    registry=REGISTRY,
)
COMMITS_HELD = Counter(
    "cxstream_commits_held_total",
    "Offset commits held back because the record at the committed offset was not handled yet (skipped in a "
    "rebalance): it is read again after the next seek instead of being passed over, by topic.",
    ["topic"],
    registry=REGISTRY,
)
REREADS = Counter(
    "cxstream_partition_rereads_total",
    "Partitions sought back to their committed offset because the record there stayed unhandled while later "
    "ones were handled (their commits were held), by topic.",
    ["topic"],
    registry=REGISTRY,
)
SEEKS_TO_START = Counter(
    "cxstream_seeks_to_start_total",
    "Input partitions without a committed offset sought back to their first record after a rebalance (aiokafka "
    "left them where the fetcher stood, past records Faust had dropped).",
    registry=REGISTRY,
)
DUPLICATES = Counter(
    "cxstream_duplicates_total",
    "Records dropped because a record with the same id was already handled (a replay after a crash or a "
    "rebalance), by topic.",
    ["topic"],
    registry=REGISTRY,
)

AGENT_FAILURES = Counter(
    "cxstream_agent_failures_total",
    "Records whose handling raised in an agent (each dead-lettered or logged), by agent.",
    ["agent"],
    registry=REGISTRY,
)
AGENT_STOPPED = Gauge(
    "cxstream_agent_stopped",
    "1 when the agent stopped at the dead-letter limit (CXSTREAM_DLQ_*): its records wait on the topic.",
    ["agent"],
    registry=REGISTRY,
)

# --- Canonical events ---------------------------------------------------------------------------
EVENTS = Counter(
    "cxstream_events_total",
    "Canonical events read from cx.events, by source and event type.",
    ["source", "event_type"],
    registry=REGISTRY,
)
EVENT_INGEST_DELAY = Histogram(
    "cxstream_event_ingest_delay_seconds",
    "Ingest time minus event time of canonical events: how late sources deliver.",
    ["source"],
    buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400),
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "cxstream_dead_letters_total",
    "Records sent to the dead-letter topic, by source and stage.",
    ["source", "stage"],
    registry=REGISTRY,
)

# --- Source accounting: received = normalized + dead-lettered + duplicates + ignored ------------------
RECORDS_RECEIVED = Counter(
    "cxstream_records_received_total",
    "Raw records read from cx.raw.<source>, by source.",
    ["source"],
    registry=REGISTRY,
)
RECORDS_NORMALIZED = Counter(
    "cxstream_records_normalized_total",
    "Raw records that became one or more canonical events on cx.events, by source.",
    ["source"],
    registry=REGISTRY,
)
RECORDS_DUPLICATE = Counter(
    "cxstream_records_duplicate_total",
    "Raw records dropped because every event id in them was already seen within the duplicate horizon.",
    ["source"],
    registry=REGISTRY,
)
RECORDS_IGNORED = Counter(
    "cxstream_records_ignored_total",
    "Raw records that carry no CX signal (e.g. a CRM contact update), by source.",
    ["source"],
    registry=REGISTRY,
)
EVENTS_PUBLISHED = Counter(
    "cxstream_events_published_total",
    "Canonical events published to cx.events, by source and event type.",
    ["source", "event_type"],
    registry=REGISTRY,
)
UNMAPPED_CODES = Counter(
    "cxstream_unmapped_codes_total",
    "Source codes the declared reference data does not name (an SAP sales organization with no region), by "
    "source and field: the event is kept without that dimension; add the code to topologies/connectors.yaml.",
    ["source", "field"],
    registry=REGISTRY,
)
VALIDATION_FINDINGS = Counter(
    "cxstream_validation_findings_total",
    "Validation rule violations, by source, rule and action (reject or flag).",
    ["source", "rule", "action"],
    registry=REGISTRY,
)
INGEST_REQUESTS = Counter(
    "cxstream_ingest_requests_total",
    "POST /ingest/{source} requests, by source and HTTP status.",
    ["source", "status"],
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "cxstream_auth_failures_total",
    "Requests refused for a missing or wrong token (401), by route. Repeated failures from one address are "
    "answered ever more slowly.",
    ["route"],
    registry=REGISTRY,
)

# --- live CX metric tables -------------------------------------------------------------------------------
METRIC_UPDATES = Counter(
    "cxstream_metric_updates_total",
    "Metric table cells updated (one per event, definition and time grain), by definition.",
    ["definition"],
    registry=REGISTRY,
)
METRIC_UPDATES_SKIPPED = Counter(
    "cxstream_metric_updates_skipped_total",
    "Metric updates skipped because the cell had already applied that cx.events offset (replay after a restart).",
    ["definition"],
    registry=REGISTRY,
)
LATE_EVENTS = Counter(
    "cxstream_late_events_total",
    "Events that arrived after their bucket's end + grace: dead-lettered, in no window, by source.",
    ["source"],
    registry=REGISTRY,
)
METRIC_CELLS_EXPIRED = Counter(
    "cxstream_metric_cells_removed_total",
    "Metric table cells deleted: folded into an hourly cell, or read by no window any more.",
    registry=REGISTRY,
)
HISTORY_PUBLISHED = Counter(
    "cxstream_history_published_total",
    "Records this worker published to cx.metrics.history: closed periods (HistoryFact), closures "
    "(HistoryClosed) and tombstones of periods past their retention.",
    ["kind"],
    registry=REGISTRY,
)
HISTORY_FACTS = Gauge(
    "cxstream_history_facts",
    "Closed periods (definition x finest scope x day or interval x origin) this worker has read from "
    "cx.metrics.history.",
    registry=REGISTRY,
)
METRIC_CELLS_FOLDED = Counter(
    "cxstream_metric_cells_folded_total",
    "Hourly metric cells written by folding 5-minute cells that no real-time window reads any more.",
    registry=REGISTRY,
)
METRIC_DUPLICATES = Counter(
    "cxstream_metric_duplicate_events_total",
    "Events on cx.events whose id was already applied at another offset (upstream re-delivery): not counted again.",
    registry=REGISTRY,
)

# --- breaches -------------------------------------------------------------------------------------------------
BREACHES = Counter(
    "cxstream_breaches_total",
    "Breach lifecycle records published to cx.breaches, by rule, status and severity.",
    ["rule", "status", "severity"],
    registry=REGISTRY,
)
BREACH_EVALUATIONS = Counter(
    "cxstream_breach_evaluations_total",
    "Threshold evaluation rounds, by outcome: done, or skipped_partial because some cx.events partitions could be "
    "read neither here nor from the other workers' cells (no owner yet, or the cell replica still loading).",
    ["outcome"],
    registry=REGISTRY,
)
THRESHOLD_PARTITIONS = Gauge(
    "cxstream_threshold_partitions",
    "cx.events partitions the last threshold round read, by where their cells came from: own (this worker's "
    "table) or replica (other workers' cells, read from the metric table's changelog). Only the worker holding "
    "the routing desk reports it.",
    ["source"],
    registry=REGISTRY,
)
REPLICA_CELLS = Gauge(
    "cxstream_cell_replica_cells",
    "Cells of the metrics threshold rules and handovers read that this worker keeps from the metric table's "
    "changelog (0 while it holds every cx.events partition itself and needs no replica).",
    registry=REGISTRY,
)
EXPECTED_FALSE_BREACHES = Gauge(
    "cxstream_expected_false_breaches_per_day",
    "False breaches a day a threshold rule expects over its scopes at the answer volumes of the last hours, "
    "were every scope at no_change on the good side of its first level (Siegmund's approximation). Only the worker "
    "holding the routing desk reports it.",
    ["rule"],
    registry=REGISTRY,
)
OPEN_BREACHES = Gauge(
    "cxstream_open_breaches",
    "Breaches currently open, by rule and severity. Only the worker holding the routing desk reports them.",
    ["rule", "severity"],
    registry=REGISTRY,
)
ESCALATIONS = Counter(
    "cxstream_escalations_total",
    "Escalations published to cx.escalations.<team>, by receiver, severity and ladder level (0: the team).",
    ["receiver", "severity", "level"],
    registry=REGISTRY,
)
HOT_ALERTS = Counter(
    "cxstream_hot_alerts_total",
    "Hot-alert rule matches on single events, by rule and outcome: raised, or stale (event older than max_age).",
    ["rule", "outcome"],
    registry=REGISTRY,
)
ESCALATION_LATENCY = Histogram(
    "cxstream_escalation_latency_seconds",
    "From the ingest of the event behind a hot alert to its first escalation being published.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
UNROUTED_ALERTS = Gauge(
    "cxstream_unrouted_alerts",
    "Alerts that no team route matched and only the default route took (since the routing state began); 0 on "
    "workers not holding the routing desk.",
    registry=REGISTRY,
)
SCORECARD_TICKETS = Gauge(
    "cxstream_scorecard_tickets",
    "Helpdesk tickets whose life this worker keeps for scorecards (read from cx.events).",
    registry=REGISTRY,
)
QUEUE_AGENTS_STAFFED = Gauge(
    "cxstream_queue_agents_staffed",
    "Agents on a workforce queue's floor now (staffed status on a matching channel), from agent-status events. "
    "Only the worker holding the routing desk reports it.",
    ["queue"],
    registry=REGISTRY,
)
QUEUE_AGENTS_REQUIRED = Gauge(
    "cxstream_queue_agents_required",
    "Agents the current interval's forecast needs on a workforce queue for its service-level target. "
    "Only the worker holding the routing desk reports it.",
    ["queue"],
    registry=REGISTRY,
)
QUEUE_SERVICE_LEVEL = Gauge(
    "cxstream_queue_projected_service_level",
    "Lowest service level the agents on a queue's floor now give over the staffing-gap look-ahead (0-1). "
    "Only the worker holding the routing desk reports it.",
    ["queue"],
    registry=REGISTRY,
)
ALERTING_INPUTS = Counter(
    "cxstream_alerting_inputs_total",
    "Messages handled by the routing side, by kind (tick, hot, ack, overdue, silence, presence) and outcome.",
    ["kind", "outcome"],
    registry=REGISTRY,
)

# --- cases ----------------------------------------------------------------------------------------------------
CASE_ACTIONS = Counter(
    "cxstream_case_actions_total",
    "Actions on cx.case-actions, by action and outcome: applied, refused (to cx.dlq), replayed, failed.",
    ["action", "outcome"],
    registry=REGISTRY,
)
CASES_OVERDUE = Counter(
    "cxstream_cases_overdue_total",
    "SLA steps cases missed, by step (acknowledge, resolve, follow_up) and severity; each lapse counted once.",
    ["step", "severity"],
    registry=REGISTRY,
)
RECURRING_CASES = Counter(
    "cxstream_cases_recurring_total",
    "Cases flagged recurring: the same customer, or the same driver at the same site, had another case.",
    registry=REGISTRY,
)

# --- partner feedback -----------------------------------------------------------------------------------------
PARTNER_FEEDBACK = Counter(
    "cxstream_partner_feedback_total",
    "Partner reports on playbook steps republished on cx.partner-feedback, by severity.",
    ["severity"],
    registry=REGISTRY,
)
PLAYBOOK_REVISIONS = Counter(
    "cxstream_playbook_revisions_proposed_total",
    "Playbook revisions proposed from partner feedback (a remediation item and a governance proposal each).",
    registry=REGISTRY,
)

# --- shift handovers -----------------------------------------------------------------------------------------
HANDOVERS_PUBLISHED = Counter(
    "cxstream_handovers_published_total",
    "Shift handovers published on cx.handovers by the routing side, by team and state (published at the shift's "
    "end, escalated when not acknowledged in time, acknowledged).",
    ["team", "state"],
    registry=REGISTRY,
)

# --- survey invites -------------------------------------------------------------------------------------------
SURVEY_INVITES = Counter(
    "cxstream_survey_invites_total",
    "Survey invite requests by survey and outcome: sent, or the one reason it was suppressed (no_customer, "
    "open_case, quiet_period, recent_invite, daily_cap), or replayed (decided before a restart).",
    ["survey", "outcome"],
    registry=REGISTRY,
)

# --- runtime state, read when scraped --------------------------------------------------------------------------
CONSUMER_LAG = Gauge(
    "cxstream_consumer_lag",
    "Records behind per assigned partition: the partition's high watermark (last fetch) minus the committed offset.",
    ["topic", "partition"],
    registry=REGISTRY,
)
TABLE_KEYS = Gauge(
    "cxstream_table_keys",
    "Keys held in this worker's copy of each table (active and standby partitions).",
    ["table"],
    registry=REGISTRY,
)
CHANGELOG_LAG = Gauge(
    "cxstream_changelog_lag",
    "Changelog records still to apply per partition: kind=active while recovering, kind=standby for replicas.",
    ["topic", "partition", "kind"],
    registry=REGISTRY,
)


_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)`` (label values in the metric's label order), looked up once: prometheus-client's
    ``labels()`` costs about 2 µs a call, and the hot path makes several a record. Only for metrics whose
    children are never removed."""
    key = (id(metric), values)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*values)
    return found
