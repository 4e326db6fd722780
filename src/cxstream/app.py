"""Composition root: settings + topology + schemas -> one Faust app with every agent and view registered.

Nothing here runs at import time; :func:`create_app` builds a fresh app each call.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
from faust.serializers import codecs

from cxstream import __version__
from cxstream.agents import alert_inputs, alerting, cases, events_monitor, invites, normalize
from cxstream.agents import remediation as remediation_agents
from cxstream.agents.assignment import held
from cxstream.agents.audits import AuditWatch
from cxstream.agents.calendar_feed import CalendarFeed
from cxstream.agents.cell_replica import CellReplica
from cxstream.agents.consumer import SkipAwareTransport
from cxstream.agents.dead_letters import DLQ_TOPIC, DeadLetterSink
from cxstream.agents.experiments import ExperimentFeed
from cxstream.agents.fencing import FencedTable
from cxstream.agents.guard import Guards
from cxstream.agents.handovers import HandoverFeed, HandoverWatch
from cxstream.agents.history import HISTORY_TOPIC, HistoryFeed, HistorySink
from cxstream.agents.locations import SiteWatch
from cxstream.agents.metric_tables import MetricTables
from cxstream.agents.partner_feedback import FeedbackFeed, FeedbackSink, Revisions
from cxstream.agents.partner_feedback import register as register_revisions
from cxstream.agents.recent_events import RecentEvents
from cxstream.agents.recovery import CheckedRecovery
from cxstream.agents.remediation import EvidenceFeed
from cxstream.agents.remediation_feed import RemediationFeed
from cxstream.agents.runtime_state import RuntimeState
from cxstream.agents.scorecards import TicketFeed
from cxstream.agents.sensor import PrometheusSensor
from cxstream.agents.staffing import Staffing
from cxstream.agents.targets import TargetFeed
from cxstream.config.topology import load_topology
from cxstream.connectors import registry as connector_registry
from cxstream.connectors.base import Connector
from cxstream.domain.access.principal import Access, tokens_from_env
from cxstream.domain.access.sessions import Sessions, derived_key
from cxstream.domain.catalog import Topics
from cxstream.domain.handovers.moves import team_definitions
from cxstream.domain.ingest.enrichment import Enricher
from cxstream.domain.ingest.validation import Validator
from cxstream.domain.ingest.verbatim import VerbatimAnalyzer
from cxstream.domain.metrics.cells import Cell
from cxstream.domain.tolerance.bands import Bands
from cxstream.domain.topology import CleanupPolicy, Topology
from cxstream.domain.workforce.tiers import tier_of
from cxstream.kafka.connection import aiokafka_options, faust_credentials
from cxstream.observability.logging import get_logger
from cxstream.observability.metrics import BUILD_INFO
from cxstream.serde.avro import AvroCodec, CodecFactory, DecodeError
from cxstream.serde.catalog import SchemaCatalog
from cxstream.serde.registry import SchemaRegistryClient
from cxstream.settings import Settings
from cxstream.web import calendar_api, health, ingest, live, openapi, page, quality, scorecards, warroom, workforce
from cxstream.web import experiments as experiments_web
from cxstream.web import governance as governance_web
from cxstream.web import handovers as handovers_web
from cxstream.web import impact as impact_web
from cxstream.web import locations as locations_web
from cxstream.web import partner_feedback as partner_feedback_web
from cxstream.web import remediation as remediation_web
from cxstream.web import thresholds as thresholds_web
from cxstream.web.auth import Gate
from cxstream.web.reads import Reads
from cxstream.web.routes import OwnRoutesOnly
from cxstream.web.warroom_view import Words

log = get_logger(__name__)


@dataclass(frozen=True)
class Context:
    """Everything read from configuration, validated, before any Kafka connection."""

    settings: Settings
    topology: Topology
    catalog: SchemaCatalog
    codecs: CodecFactory
    connectors: dict[str, Connector]  # by raw topic
    validator: Validator
    enricher: Enricher

    def codec(self, topic: str) -> AvroCodec:
        spec = self.topology.topic(topic)
        if spec.value.schema_ is None:
            raise ValueError(f"topic {topic} carries raw bytes, not Avro")
        return self.codecs.for_topic(topic, spec.value.schema_)


def load_context(settings: Settings) -> Context:
    """Raises ConfigError / SchemaError naming the file and field at fault."""
    catalog = SchemaCatalog.from_dir(settings.schema_dir)
    topology = load_topology(settings.topology_dir, catalog.names(), connector_registry.installed())
    registry = None
    if settings.schema_registry_url is not None:
        password = settings.schema_registry_password
        registry = SchemaRegistryClient(
            str(settings.schema_registry_url),
            settings.schema_registry_username,
            password.get_secret_value() if password else None,
        )
    validator = Validator(topology.validation, topology.reference, (t.id for t in topology.teams))
    connectors = connector_registry.build(topology.connectors)
    tiers = topology.workforce.tiers
    bands = Bands.of(topology.tolerance, topology.metrics)
    enricher = Enricher(topology.journey, VerbatimAnalyzer(topology.verbatims),
                        partial(tier_of, tiers) if tiers else None, bands.tags if bands else None)  # fmt: skip
    return Context(settings, topology, catalog, CodecFactory(catalog, registry), connectors, validator, enricher)


class FaustAvroCodec(codecs.Codec):
    """Adapts an :class:`AvroCodec` to Faust's codec interface."""

    def __init__(self, avro: AvroCodec, **kwargs: Any) -> None:
        self.avro = avro
        super().__init__(**kwargs)

    def _dumps(self, obj: Any) -> bytes:
        return self.avro.encode(obj)

    def _loads(self, data: bytes) -> Any:
        try:
            return self.avro.decode(data)
        except DecodeError as exc:
            raise ValueError(str(exc)) from exc


def codec_name(topic: str) -> str:
    return f"avro:{topic}"


def register_codecs(ctx: Context) -> None:
    """Registers ``avro:<topic>`` with Faust for every Avro topic of the topology."""
    for spec in ctx.topology.topics:
        if spec.value.format == "avro":
            codecs.register(codec_name(spec.name), FaustAvroCodec(ctx.codec(spec.name)))


#: Largest message a worker produces: a raw record far over the ingest limit must still reach cx.dlq with its
#: original bytes. Raw and dead-letter topics declare the same max.message.bytes; a dead letter that would be
#: larger than the smaller of the two limits carries the original in part (DeadLetterSink).
MAX_MESSAGE_BYTES = 20 * 1024 * 1024
#: Largest fetch: a record over the declared limit (a broker that does not enforce it) is still fetched.
MAX_FETCH_BYTES = 4 * MAX_MESSAGE_BYTES
KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1048588  # a topic that declares no max.message.bytes
#: How long the producer waits to fill a batch: with none, every send is a request of its own (Faust's send costs
#: about 245 microseconds of CPU then, 130 with 5 ms); 5 ms is nothing next to a hop's fetch wait.
PRODUCER_LINGER_S = 0.005


def access_for(ctx: Context) -> Access:
    """Tokens from the topology (hashed) and from ``CXSTREAM_API_TOKENS`` (hashed here)."""
    tokens = list(ctx.topology.access.tokens)
    if ctx.settings.api_tokens is not None:
        tokens.extend(tokens_from_env(ctx.settings.api_tokens.get_secret_value()))
    return Access(tokens)


def sessions_for(settings: Settings) -> Sessions:
    """Page sessions signed with ``CXSTREAM_SESSION_KEY``, else with a key derived from the plain API tokens
    (every worker has them), else with a random key: then a session works on the worker that made it only."""
    if settings.session_key is not None:
        key = settings.session_key.get_secret_value().encode()
    elif settings.api_tokens is not None:
        key = derived_key(settings.api_tokens.get_secret_value())
    else:
        key = secrets.token_bytes(32)
        log.warning("session_key_random", detail="set CXSTREAM_SESSION_KEY so that every worker accepts a session")
    return Sessions(key, int(settings.session_ttl * 1000))


def create_app(ctx: Context, bootstrap: str, *, brokers: int = 1) -> faust.App:
    settings = ctx.settings
    events = ctx.topology.topic(events_monitor.EVENTS_TOPIC)
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{server.strip()}" for server in bootstrap.split(",") if server.strip()],
        broker_credentials=faust_credentials(settings),
        broker_client_id=settings.kafka_client_id,
        broker_session_timeout=settings.broker_session_timeout,
        broker_heartbeat_interval=settings.broker_heartbeat_interval,
        broker_rebalance_timeout=settings.broker_rebalance_timeout,
        table_standby_replicas=settings.standby_replicas,
        consumer_auto_offset_reset="earliest",
        consumer_max_fetch_size=MAX_FETCH_BYTES,
        producer_max_request_size=MAX_MESSAGE_BYTES,
        producer_linger=PRODUCER_LINGER_S,
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=events.partitions,
        topic_replication_factor=max(1, min(3, brokers)),
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        canonical_url=settings.web_url,  # the other workers route requests here
        autodiscover=False,
        Table=FencedTable,  # every table's changelog records carry their writer's epoch (agents.fencing)
    )
    app.transport = transport = SkipAwareTransport(app.conf.broker_consumer, app)  # skipped records stay uncommitted
    transport.fetch_wait_ms = round(settings.consumer_fetch_wait * 1000)
    transport.compacted = frozenset(t.name for t in ctx.topology.topics if t.cleanup_policy is not CleanupPolicy.DELETE)
    recovery = CheckedRecovery(app, app.tables, beacon=app.tables.beacon, loop=app.tables.loop)
    recovery.client_options = aiokafka_options(settings, bootstrap)
    app.tables._recovery = recovery  # type: ignore[attr-defined]  # used instead of the one faust would build
    app.web = web = OwnRoutesOnly(app)  # before any page is declared: the pages go to this server (see web.routes)
    web.logins.free = settings.auth_free_failures
    register_codecs(ctx)
    app.sensors.add(PrometheusSensor())
    dlq_limit = int(ctx.topology.topic(DLQ_TOPIC).config.get("max.message.bytes", KAFKA_DEFAULT_MAX_MESSAGE_BYTES))
    dead_letters = DeadLetterSink(app, codec_name(DLQ_TOPIC), min(dlq_limit, MAX_MESSAGE_BYTES))
    guards = Guards(settings.failure_limit)
    metric_tables = MetricTables(app, ctx.topology.metrics, events.partitions, events_monitor.EVENTS_TOPIC)
    alerts = ctx.topology.alerting
    history_codec = ctx.codec(HISTORY_TOPIC)
    feed = HistoryFeed(aiokafka_options(settings, bootstrap), history_codec)
    if metric_tables.enabled:
        metric_tables.history = feed
        app.task(feed.run)
    # other workers' cells, for threshold rules and handovers over every partition
    replicated = {rule.metric for rule in alerts.thresholds} | {
        d.id for team in ctx.topology.handovers.teams for d in team_definitions(ctx.topology.metrics, team.team)
    }
    if metric_tables.enabled and replicated:
        metric_tables.replica = CellReplica(
            aiokafka_options(settings, bootstrap),
            metric_tables.table.changelog_topic.get_topic_name(),
            replicated,
            metric_tables.partial,
            fetch_wait_ms=round(settings.consumer_fetch_wait * 1000),
        )
        app.task(metric_tables.replica.run)
    staffing_ = Staffing(app, ctx.topology.metrics, ctx.topology.workforce,
                         lambda: feed.index if metric_tables.enabled and feed.ready else None)  # fmt: skip
    places = ctx.topology.locations
    sites = (
        SiteWatch(app, ctx.topology.metrics, places, {s.id: s.region for s in ctx.topology.reference.sites},
                  {s.id: s.name for s in ctx.topology.reference.sites},
                  lambda: feed.index if metric_tables.enabled and feed.ready else None)
        if places is not None else None
    )  # fmt: skip
    audits = (
        AuditWatch(app, ctx.topology.metrics, ctx.topology.audits,
                   {s.id: s.region for s in ctx.topology.reference.sites},
                   {s.id: s.name for s in ctx.topology.reference.sites},
                   lambda: feed.index if metric_tables.enabled and feed.ready else None, codec_name(Topics.AUDITS))
        if ctx.topology.audits.audits else None
    )  # fmt: skip
    shifts = None
    if ctx.topology.handovers.teams:
        shifts = HandoverFeed(aiokafka_options(settings, bootstrap), {t: ctx.codec(t) for t in HandoverFeed.topics})
    handovers = None
    if shifts is not None:
        app.task(shifts.run)

        def live_cells() -> list[Cell]:
            whole = metric_tables.whole() if metric_tables.enabled else None
            return whole[0] if whole is not None else []

        handovers = HandoverWatch(app, ctx.topology.handovers, ctx.topology.metrics, shifts, live_cells,
                                  codec_name(Topics.HANDOVERS))  # fmt: skip
    control = alerting.register(
        app,
        alerts,
        ctx.topology.metrics,
        metric_tables,
        codec_name(alerting.BREACHES_TOPIC),
        codec_name,
        guards,
        staffing_,
        sites,
        audits,
        handovers,
    )
    if control is not None:
        alert_inputs.register(
            app,
            control,
            ctx.codec(alert_inputs.SILENCES_TOPIC),
            dead_letters,
            guards,
        )
    followup = ctx.topology.followup
    contacts = invites.register(
        app,
        followup,
        codec_name(invites.INVITES_TOPIC),
        ctx.topology.topic(invites.INVITES_TOPIC).partitions,
        guards,
    )
    regions = {s.id: s.region for s in ctx.topology.reference.sites}
    feedback_sink = FeedbackSink(app, codec_name(Topics.PARTNER_FEEDBACK), regions)
    recent = RecentEvents()  # what normalization published, for this worker's readers of cx.events
    events_monitor.register(
        app,
        ctx.codec(events_monitor.EVENTS_TOPIC),
        dead_letters,
        guards,
        metric_tables,
        alerts.hot_alerts,
        control,
        contacts,
        HistorySink(app, history_codec),
        feedback_sink,
        recent,
    )
    actions_topic = ctx.topology.topic(alerting.CASE_ACTIONS_TOPIC)
    causes = ctx.topology.remediation.root_causes if ctx.topology.remediation is not None else None
    cases_table = cases.register(
        app,
        followup.cases,
        actions_topic.name,
        ctx.codec(actions_topic.name),
        codec_name(cases.CASES_TOPIC),
        actions_topic.partitions,
        dead_letters,
        control,
        guards,
        contacts,
        causes,
        codec_name(Topics.REMEDIATION) if ctx.topology.remediation is not None else None,
    )
    experiments = ExperimentFeed(aiokafka_options(settings, bootstrap), ctx.codec(Topics.EXPERIMENTS))
    app.task(experiments.run)
    ctx.enricher.experiments = experiments.tags  # events of assigned units carry their arms
    normalize.register(
        app,
        ctx.connectors,
        ctx.validator,
        ctx.codec(events_monitor.EVENTS_TOPIC),
        dead_letters,
        events.partitions,
        guards,
        ctx.enricher,
        alerts.hot_alerts,
        control,
        recent,
    )
    readiness = health.Readiness(
        app,
        health.BrokerProbe(aiokafka_options(settings, bootstrap)),
        guards,
        health.PeerCoverage(app, metric_tables.table, events.partitions),
        history=feed if metric_tables.enabled else None,
    )
    runtime = RuntimeState(app)
    if control is not None:
        runtime.provide("last_breach", lambda: last.public_json() if (last := control.last_breach()) else None)
        runtime.provide("routing_here", lambda: bool(held(app, control.topic.get_topic_name())))
    health.register(app, readiness, runtime)
    gate = Gate(access_for(ctx), sessions_for(settings))
    actions_out = app.topic(
        actions_topic.name, key_type=bytes, key_serializer="raw", value_serializer=codec_name(actions_topic.name)
    )
    reads = Reads(app, cases_table, control.desk_table if control else None)
    warroom.register(app, gate, followup.cases, reads, actions_out, actions_topic.partitions, causes)
    verbatims = ctx.topology.verbatims
    drivers = {d: verbatims.driver_name(d) for lexicon in verbatims.lexicons for d in lexicon.drivers}
    words = Words.of(ctx.topology.metrics, {t.id: t.name for t in ctx.topology.teams}, drivers)
    page.register(app, gate, metric_tables, alerts, ctx.topology.reference.regions, reads, words)
    openapi.register(
        app,
        ctx.topology.metrics,
        places.variance.metrics if places is not None else (),
        [p.id for p in ctx.topology.tolerance.pairs],
        [r.id for r in ctx.topology.alerting.thresholds],
    )
    ingest.register(app, settings, ctx.connectors)
    live.register(app, metric_tables, gate, feed if metric_tables.enabled else None)
    history_feed = feed if metric_tables.enabled else None
    workforce.register(app, gate, ctx.topology, history_feed, control.staffing if control else None)
    tickets = TicketFeed(aiokafka_options(settings, bootstrap), ctx.codec(events_monitor.EVENTS_TOPIC),
                         ctx.topology.workforce.scorecards, recent)  # fmt: skip
    app.task(tickets.run)
    quality.register(app, gate, ctx.topology, history_feed, tickets)
    planned = CalendarFeed(aiokafka_options(settings, bootstrap), ctx.codec(Topics.CALENDAR))
    app.task(planned.run)
    calendar_api.register(app, gate, ctx.topology, history_feed, planned)
    scorecards.register(
        app, gate, ctx.topology.workforce.scorecards, tickets, {t.id: t.name for t in ctx.topology.teams}
    )
    if places is not None:
        locations_web.register(app, gate, ctx.topology, places, history_feed)
    locations_web.register_playbooks(app, gate, ctx.topology, history_feed)
    backlog: RemediationFeed | None = None
    if ctx.topology.remediation is not None:
        improvement = ctx.topology.remediation
        backlog = RemediationFeed(aiokafka_options(settings, bootstrap), ctx.codec(Topics.REMEDIATION), improvement)
        app.task(backlog.run)
        evidence = EvidenceFeed(aiokafka_options(settings, bootstrap))
        app.task(evidence.run)
        verdicts = (
            remediation_agents.register(app, improvement, metric_tables, history_feed, backlog, evidence,
                                        codec_name(Topics.REMEDIATION))
            if metric_tables.enabled else None
        )  # fmt: skip
        if verdicts is not None:  # the experiments' arms are summed with the verdicts' partials
            finest = ctx.topology.metrics.finest_ms
            verdicts.sources.append(lambda at: experiments.wants(finest, at))
        experiments_web.register(
            app, gate, experiments, evidence, history_feed, ctx.topology.metrics,
            app.topic(Topics.EXPERIMENTS, key_type=bytes, key_serializer="raw",
                      value_serializer=codec_name(Topics.EXPERIMENTS)), 1 - ctx.topology.metrics.confidence,
        )  # fmt: skip
        remediation_out = app.topic(Topics.REMEDIATION, key_type=bytes, key_serializer="raw",
                                    value_serializer=codec_name(Topics.REMEDIATION))  # fmt: skip
        remediation_web.register(
            app,
            gate,
            remediation_web.RemediationReads(
                ctx.topology, improvement, metric_tables, history_feed, backlog, verdicts, reads
            ),
            remediation_out,
        )
    thresholds_web.register(app, gate, ctx.topology.metrics, ctx.topology.tolerance, ctx.topology.alerting.thresholds,
                            history_feed)  # fmt: skip
    if shifts is not None:
        acks_out = app.topic(Topics.HANDOVER_ACKS, key_type=bytes, key_serializer="raw",
                             value_serializer=codec_name(Topics.HANDOVER_ACKS))  # fmt: skip
        handovers_web.register(app, gate, shifts, acks_out, [t.team for t in ctx.topology.handovers.teams])
    targets = TargetFeed(aiokafka_options(settings, bootstrap), ctx.codec(Topics.TARGETS))
    app.task(targets.run)
    impact_web.register(app, gate, ctx.topology.metrics, history_feed, regions, ctx.topology.audits,
                        {s.id: s.name for s in ctx.topology.reference.sites}, ctx.topology.impact.plateaus,
                        lambda: backlog.backlog.items.values() if backlog is not None else (), targets,
                        lambda: experiments.book.experiments.values())  # fmt: skip
    proposals: governance_web.GovernanceFeed | None = None
    if ctx.topology.governance.committees:
        proposals = governance_web.GovernanceFeed(aiokafka_options(settings, bootstrap), ctx.codec(Topics.GOVERNANCE),
                                                  ctx.topology.governance)  # fmt: skip
        app.task(proposals.run)
        governance_out = app.topic(Topics.GOVERNANCE, key_type=bytes, key_serializer="raw",
                                   value_serializer=codec_name(Topics.GOVERNANCE))  # fmt: skip
        governance_web.register(app, gate, proposals, governance_out, backlog)
    partner_reports = FeedbackFeed(aiokafka_options(settings, bootstrap), ctx.codec(Topics.PARTNER_FEEDBACK))
    app.task(partner_reports.run)
    partner_feedback_web.register(app, gate, ctx.topology.playbooks, partner_reports, backlog, proposals)
    register_revisions(
        app,
        Revisions(
            app,
            ctx.topology.playbooks,
            ctx.topology.governance,
            partner_reports,
            backlog,
            proposals,
            {t: codec_name(t) for t in (Topics.REMEDIATION, Topics.GOVERNANCE)},
        ),
    )
    BUILD_INFO.info({"version": __version__, "app_id": settings.app_id})
    return app
