"""The declared topology: teams and topics. Pure data and rules; loading from YAML lives in ``config/``."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from cxstream.domain.access.principal import AccessSpec
from cxstream.domain.alerting.spec import Alerting
from cxstream.domain.base import Strict
from cxstream.domain.cases.followup import INVITE_LABELS, FollowUp
from cxstream.domain.catalog import Topics
from cxstream.domain.durations import parse_duration_ms
from cxstream.domain.handovers.spec import HandoverSpec
from cxstream.domain.impact.audits import Audits
from cxstream.domain.impact.plateaus import ImpactSpec
from cxstream.domain.ingest.journey import JourneyMap
from cxstream.domain.ingest.validation import Reference, ValidationSpec
from cxstream.domain.ingest.verbatim import VerbatimSpec
from cxstream.domain.locations.governance import Governance
from cxstream.domain.locations.playbooks import Playbooks
from cxstream.domain.locations.spec import Locations
from cxstream.domain.metrics.spec import Indicator, MetricsSpec
from cxstream.domain.remediation.spec import Remediation
from cxstream.domain.tolerance.spec import ToleranceSpec, check_pairs
from cxstream.domain.workforce.presence import PRESENCE_DIMENSIONS
from cxstream.domain.workforce.spec import Workforce

TeamId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,40}$")]
TopicName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,249}$")]

ESCALATION_PREFIX = Topics.ESCALATION_PREFIX
RAW_PREFIX = Topics.RAW_PREFIX
_FOREVER = "forever"


class CleanupPolicy(StrEnum):
    DELETE = "delete"
    COMPACT = "compact"
    COMPACT_DELETE = "compact,delete"


class KeyFormat(StrEnum):
    STRING = "string"
    BYTES = "bytes"
    NONE = "none"


class Team(Strict):
    id: TeamId
    name: str = Field(min_length=1)
    description: str = ""


class ValueSpec(Strict):
    format: Literal["avro", "raw"]
    schema_: str | None = Field(None, alias="schema", description="Avro full name, e.g. cxstream.CanonicalEvent")

    @field_validator("schema_")
    @classmethod
    def _schema_name(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", value):
            raise ValueError(f"{value!r} is not an Avro full name")
        return value

    @model_validator(mode="after")
    def _schema_matches_format(self) -> ValueSpec:
        if self.format == "avro" and not self.schema_:
            raise ValueError("an avro value needs a schema")
        if self.format == "raw" and self.schema_:
            raise ValueError("a raw value takes no schema")
        return self


class TopicSpec(Strict):
    name: TopicName
    description: str = Field(min_length=10)
    owner: TeamId
    partitions: int = Field(ge=1, le=1000)
    replication: int = Field(3, ge=1, le=10)
    retention: str = Field("7d", description="a duration (7d, 12h) or 'forever'")
    cleanup_policy: CleanupPolicy = CleanupPolicy.DELETE
    key: KeyFormat = KeyFormat.STRING
    value: ValueSpec
    example: Path | None = Field(None, description="example payload, relative to the topology file")
    config: dict[str, str] = Field(default_factory=dict, description="further broker topic configs")

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        if value != _FOREVER:
            parse_duration_ms(value)
        return value

    @field_validator("config")
    @classmethod
    def _no_shadowing(cls, value: dict[str, str]) -> dict[str, str]:
        for key in ("retention.ms", "cleanup.policy"):
            if key in value:
                raise ValueError(f"set {key} through the 'retention' / 'cleanup_policy' fields")
        return value

    @property
    def retention_ms(self) -> int:
        return -1 if self.retention == _FOREVER else parse_duration_ms(self.retention)

    def broker_configs(self) -> dict[str, str]:
        """Topic configs as a Kafka CreateTopics request carries them."""
        return {
            "cleanup.policy": self.cleanup_policy.value,
            "retention.ms": str(self.retention_ms),
            **self.config,
        }


class ConnectorSpec(Strict):
    """A source connector to run: its entry-point name and its options (checked by the connector)."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{1,40}$")]
    enabled: bool = True
    options: dict[str, object] = Field(default_factory=dict)

    @property
    def raw_topic(self) -> str:
        return f"{RAW_PREFIX}{self.name}"


class TopologyFile(Strict):
    """What one YAML file in ``topologies/`` may hold. List sections from several files are concatenated;
    the other sections (``reference``, ``validation``, ``journey``, ``verbatims``, ``metrics``, ``alerting``,
    ``followup``)
    may each appear in one file only."""

    teams: list[Team] = Field(default_factory=list)
    topics: list[TopicSpec] = Field(default_factory=list)
    connectors: list[ConnectorSpec] = Field(default_factory=list)
    reference: Reference | None = None
    validation: ValidationSpec | None = None
    journey: JourneyMap | None = None
    verbatims: VerbatimSpec | None = None
    metrics: MetricsSpec | None = None
    alerting: Alerting | None = None
    followup: FollowUp | None = None
    access: AccessSpec | None = None
    workforce: Workforce | None = None
    remediation: Remediation | None = None
    locations: Locations | None = None
    playbooks: Playbooks | None = None
    governance: Governance | None = None
    audits: Audits | None = None
    impact: ImpactSpec | None = None
    tolerance: ToleranceSpec | None = None
    handovers: HandoverSpec | None = None


Loc = tuple[str | int, ...]


class Problem(BaseModel):
    """A rule broken by a declared item, with the path to it inside its section."""

    loc: Loc
    message: str


def check_topology(
    teams: list[Team],
    topics: list[TopicSpec],
    schema_names: set[str],
    connectors: list[ConnectorSpec] | None = None,
    known_connectors: set[str] | None = None,
) -> list[Problem]:
    """Cross-item rules that no single model can check. ``loc`` indexes the merged lists."""
    problems: list[Problem] = []
    team_ids: dict[str, int] = {}
    for i, team in enumerate(teams):
        if team.id in team_ids:
            problems.append(Problem(loc=("teams", i, "id"), message=f"team {team.id!r} is declared twice"))
        team_ids.setdefault(team.id, i)
    names: set[str] = set()
    for i, topic in enumerate(topics):
        if topic.name in names:
            problems.append(Problem(loc=("topics", i, "name"), message=f"topic {topic.name!r} is declared twice"))
        names.add(topic.name)
        if topic.owner not in team_ids:
            problems.append(
                Problem(
                    loc=("topics", i, "owner"),
                    message=f"unknown team {topic.owner!r}; declare it under teams",
                )
            )
        if topic.name.startswith(ESCALATION_PREFIX):
            receiver = topic.name.removeprefix(ESCALATION_PREFIX)
            if receiver not in team_ids:
                problems.append(
                    Problem(loc=("topics", i, "name"), message=f"escalation topic for unknown team {receiver!r}")
                )
        if topic.value.schema_ and topic.value.schema_ not in schema_names:
            known = ", ".join(sorted(schema_names)) or "none"
            problems.append(
                Problem(
                    loc=("topics", i, "value", "schema"),
                    message=f"no schema {topic.value.schema_!r} in the catalog (known: {known})",
                )
            )
        if topic.cleanup_policy is not CleanupPolicy.DELETE and topic.key is KeyFormat.NONE:
            problems.append(Problem(loc=("topics", i, "key"), message="a compacted topic needs a key"))
    events = next((t for t in topics if t.name == Topics.EVENTS), None)
    for i, topic in enumerate(topics):
        if events is not None and topic.name.startswith(RAW_PREFIX) and topic.partitions != events.partitions:
            problems.append(Problem(loc=("topics", i, "partitions"), message=(
                f"{topic.partitions}: a raw topic has as many partitions as {Topics.EVENTS} ({events.partitions}), "
                "which the normalize agent's tables are partitioned by")))  # fmt: skip
    connector_names: set[str] = set()
    for i, connector in enumerate(connectors or []):
        if connector.name in connector_names:
            problems.append(
                Problem(loc=("connectors", i, "name"), message=f"connector {connector.name!r} is declared twice")
            )
        connector_names.add(connector.name)
        if known_connectors is not None and connector.name not in known_connectors:
            known = ", ".join(sorted(known_connectors)) or "none"
            problems.append(
                Problem(
                    loc=("connectors", i, "name"),
                    message=f"no installed connector {connector.name!r} (installed: {known})",
                )
            )
        if connector.raw_topic not in names:
            problems.append(
                Problem(loc=("connectors", i, "name"), message=f"its raw topic {connector.raw_topic} is not declared")
            )
    return problems


class Topology(Strict):
    teams: tuple[Team, ...]
    topics: tuple[TopicSpec, ...]
    connectors: tuple[ConnectorSpec, ...] = ()
    reference: Reference = Reference()
    validation: ValidationSpec = ValidationSpec()
    journey: JourneyMap = JourneyMap()
    verbatims: VerbatimSpec = VerbatimSpec()
    metrics: MetricsSpec = MetricsSpec()
    alerting: Alerting = Alerting()
    followup: FollowUp = FollowUp()
    access: AccessSpec = AccessSpec()
    workforce: Workforce = Workforce()
    remediation: Remediation | None = None  # none declared: cases resolve with free text only
    locations: Locations | None = None  # none declared: no variance monitoring across sites
    playbooks: Playbooks = Playbooks()
    governance: Governance = Governance()
    audits: Audits = Audits()
    impact: ImpactSpec = ImpactSpec()
    tolerance: ToleranceSpec = ToleranceSpec()
    handovers: HandoverSpec = HandoverSpec()

    def topic(self, name: str) -> TopicSpec:
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(f"topic {name!r} is not declared in the topology")

    def raw_topics(self) -> tuple[TopicSpec, ...]:
        return tuple(t for t in self.topics if t.name.startswith(RAW_PREFIX))

    def escalation_topics(self) -> tuple[TopicSpec, ...]:
        return tuple(t for t in self.topics if t.name.startswith(ESCALATION_PREFIX))


def check_singletons(topology: Topology) -> list[Problem]:
    """Rules between the single sections: metrics against teams and the journey map, the journey map against
    the reference data."""
    problems: list[Problem] = []
    teams = {t.id for t in topology.teams}
    stages = {s.id for s in topology.journey.stages}
    reference = topology.reference
    for i, stage in enumerate(topology.journey.stages):
        if reference.journey_stages and stage.id not in reference.journey_stages:
            problems.append(
                Problem(loc=("journey", "stages", i, "id"), message=f"{stage.id!r} is not in reference.journey_stages")
            )
        for j, touchpoint in enumerate(stage.touchpoints):
            if reference.touchpoints and touchpoint not in reference.touchpoints:
                problems.append(
                    Problem(
                        loc=("journey", "stages", i, "touchpoints", j),
                        message=f"{touchpoint!r} is not in reference.touchpoints",
                    )
                )
    for i, token in enumerate(topology.access.tokens):
        for j, team in enumerate(token.teams):
            if team not in teams:
                problems.append(Problem(loc=("access", "tokens", i, "teams", j), message=f"{team!r} is not a team"))
        for j, region in enumerate(token.regions):
            if reference.regions and region not in reference.regions:
                problems.append(
                    Problem(
                        loc=("access", "tokens", i, "regions", j), message=f"{region!r} is not in reference.regions"
                    )
                )
    claimed: dict[str, tuple[int, str]] = {}
    for i, definition in enumerate(topology.metrics.definitions):
        if definition.id in claimed:
            first, owner = claimed[definition.id]
            problems.append(
                Problem(
                    loc=("metrics", "definitions", i, "id"),
                    message=f"metric {definition.id!r} is claimed twice: by {owner} (definitions[{first}]) and by "
                    f"{definition.owner} here; a metric has exactly one definition and one owning team",
                )
            )
        claimed.setdefault(definition.id, (i, definition.owner))
        if definition.owner not in teams:
            problems.append(
                Problem(loc=("metrics", "definitions", i, "owner"), message=f"no team {definition.owner!r}")
            )
        for j, stage_id in enumerate(definition.journey_stages):
            if stage_id not in stages:
                problems.append(
                    Problem(
                        loc=("metrics", "definitions", i, "journey_stages", j),
                        message=f"{stage_id!r} is not a journey stage",
                    )
                )
    problems.extend(_check_alerting(topology, teams))
    problems.extend(_check_workforce(topology, teams))
    problems.extend(_check_remediation(topology, teams))
    problems.extend(_check_locations(topology, teams))
    problems.extend(_check_playbooks(topology, teams))
    problems.extend(_check_audits(topology, teams))
    problems.extend(_check_handovers(topology, teams))
    problems.extend(
        Problem(loc=loc, message=message) for loc, message in check_pairs(topology.tolerance, topology.metrics)
    )
    for j, name in enumerate(topology.followup.contact_policy.cap_by):
        if name not in (*INVITE_LABELS, "trigger"):
            problems.append(
                Problem(
                    loc=("followup", "contact_policy", "cap_by", j),
                    message=f"invites carry no label {name!r} (they carry {', '.join(INVITE_LABELS)}, trigger)",
                )
            )
    return problems


def _check_playbooks(topology: Topology, teams: set[str]) -> list[Problem]:
    """Playbooks are owned by teams, move metrics a verdict can judge, and roll out to reference sites."""
    from cxstream.domain.metrics.stats import Sufficient
    from cxstream.domain.remediation.verdict import measured

    known = {s.id for s in topology.reference.sites}
    definitions = {d.id: d for d in topology.metrics.definitions}
    problems = []
    for i, playbook in enumerate(topology.playbooks.playbooks):
        loc: tuple[str | int, ...] = ("playbooks", "playbooks", i)
        if playbook.owner not in teams:
            problems.append(Problem(loc=(*loc, "owner"), message=f"{playbook.owner!r} is not a team"))
        for j, metric in enumerate(playbook.metrics):
            definition = definitions.get(metric)
            if definition is None or measured(definition, Sufficient()) is None or "site" not in definition.dimensions:
                problems.append(Problem(loc=(*loc, "metrics", j), message=f"{metric!r} is not a share or NPS kept "
                                        "per site"))  # fmt: skip
        for j, wave in enumerate(playbook.waves):
            for k, site in enumerate(wave.sites):
                if known and site not in known:
                    problems.append(Problem(loc=(*loc, "waves", j, "sites", k), message=f"{site!r} is not in "
                                            "reference.sites"))  # fmt: skip
        for j, adaptation in enumerate(playbook.adaptations):
            adapted = adaptation.where.get("site")
            if adapted is not None and known and adapted not in known:
                problems.append(Problem(loc=(*loc, "adaptations", j, "where", "site"), message=f"{adapted!r} is "
                                        "not in reference.sites"))  # fmt: skip
    committee = topology.playbooks.feedback.committee
    if committee is not None:
        found = topology.governance.committee(committee)
        if found is None or "playbook_revision" not in found.decides:
            problems.append(Problem(loc=("playbooks", "feedback", "committee"), message=f"{committee!r} is not a "
                                    "governance committee that decides playbook_revision"))  # fmt: skip
    return problems


def _check_handovers(topology: Topology, teams: set[str]) -> list[Problem]:
    """Shifts belong to declared teams (once each); handovers need their two topics."""
    problems = []
    seen: set[str] = set()
    for i, team in enumerate(topology.handovers.teams):
        if team.team not in teams:
            problems.append(Problem(loc=("handovers", "teams", i, "team"), message=f"{team.team!r} is not a team"))
        elif team.team in seen:
            problems.append(Problem(loc=("handovers", "teams", i, "team"), message=f"{team.team!r} is listed twice"))
        seen.add(team.team)
    declared = {t.name for t in topology.topics}
    if topology.handovers.teams:
        for name in (Topics.HANDOVERS, Topics.HANDOVER_ACKS):
            if name not in declared:
                problems.append(Problem(loc=("handovers", "teams"), message=f"handovers need the topic {name!r} "
                                        "(declare it in topics.yaml)"))  # fmt: skip
    return problems


def _check_audits(topology: Topology, teams: set[str]) -> list[Problem]:
    """Audits are owned by teams and check a share metric that keeps the audited scopes' dimension."""
    from cxstream.domain.metrics.stats import Sufficient
    from cxstream.domain.remediation.verdict import measured

    definitions = {d.id: d for d in topology.metrics.definitions}
    problems = []
    for i, audit in enumerate(topology.audits.audits):
        loc: tuple[str | int, ...] = ("audits", "audits", i)
        if audit.owner not in teams:
            problems.append(Problem(loc=(*loc, "owner"), message=f"{audit.owner!r} is not a team"))
        definition = definitions.get(audit.metric)
        if definition is None or measured(definition, Sufficient()) is None:
            problems.append(Problem(loc=(*loc, "metric"), message=f"{audit.metric!r} is not a share or NPS metric"))
            continue
        for j, scope in enumerate(audit.scopes):
            for name in scope:
                if name not in definition.dimensions:
                    problems.append(Problem(loc=(*loc, "scopes", j), message=f"{audit.metric} does not keep {name}"))
    return problems


def _check_locations(topology: Topology, teams: set[str]) -> list[Problem]:
    """Locations are reference sites owned by teams; the metrics compared keep the site and are shares or NPS."""
    from cxstream.domain.metrics.stats import Sufficient
    from cxstream.domain.remediation.verdict import measured

    spec = topology.locations
    if spec is None:
        return []
    known = {s.id for s in topology.reference.sites}
    problems = []
    for i, location in enumerate(spec.sites):
        if known and location.site not in known:
            problems.append(Problem(loc=("locations", "sites", i, "site"), message=f"{location.site!r} is not in "
                                    "reference.sites"))  # fmt: skip
        if location.owner not in teams:
            problems.append(
                Problem(loc=("locations", "sites", i, "owner"), message=f"{location.owner!r} is not a team")
            )
    definitions = {d.id: d for d in topology.metrics.definitions}
    for i, metric in enumerate(spec.variance.metrics):
        definition = definitions.get(metric)
        loc: tuple[str | int, ...] = ("locations", "variance", "metrics", i)
        if definition is None:
            problems.append(Problem(loc=loc, message=f"no metric {metric!r}"))
        elif "site" not in definition.dimensions:
            problems.append(Problem(loc=loc, message=f"{metric} is not kept per site"))
        elif measured(definition, Sufficient()) is None:
            problems.append(Problem(loc=loc, message=f"{metric} is neither a share nor an NPS"))
    return problems


def _check_remediation(topology: Topology, teams: set[str]) -> list[Problem]:
    """Departments are owned by teams; a fault tree's evidence reads a declared metric, with an SLA when it
    counts misses, in dimensions the metric keeps."""
    spec = topology.remediation
    if spec is None:
        return []
    problems = [
        Problem(loc=("remediation", "departments", i, "owner"), message=f"{d.owner!r} is not a team")
        for i, d in enumerate(spec.departments) if d.owner not in teams
    ]  # fmt: skip
    if Topics.REMEDIATION not in {t.name for t in topology.topics}:
        problems.append(Problem(loc=("remediation",), message=f"declare the topic {Topics.REMEDIATION} (topics.yaml): "
                                "the backlog lives there"))  # fmt: skip
    definitions = {d.id: d for d in topology.metrics.definitions}
    for i, tree in enumerate(spec.fault_trees):
        for name, event in tree.events.items():
            if event.evidence is None:
                continue
            loc = ("remediation", "fault_trees", i, "events", name, "evidence")
            definition = definitions.get(event.evidence.metric)
            if definition is None:
                problems.append(Problem(loc=(*loc, "metric"), message=f"no metric {event.evidence.metric!r}"))
                continue
            if event.evidence.rate == "miss" and definition.sla is None:
                problems.append(Problem(loc=(*loc, "rate"), message=f"{definition.id} has no SLA to miss"))
            if event.evidence.rate == "detractor" and definition.indicator not in ("csat", "nps", "ces"):
                problems.append(Problem(loc=(*loc, "rate"), message=f"{definition.id} has no detractors"))
            for dimension in event.evidence.where:
                if dimension not in definition.dimensions:
                    problems.append(Problem(loc=(*loc, "where", dimension),
                                            message=f"{definition.id} is not kept per {dimension}"))  # fmt: skip
    for i, pareto in enumerate(spec.paretos):
        where: tuple[str | int, ...] = ("remediation", "paretos", i)
        definition = definitions.get(pareto.metric)
        if definition is None:
            problems.append(Problem(loc=(*where, "metric"), message=f"no metric {pareto.metric!r}"))
            continue
        if pareto.by not in definition.dimensions:
            problems.append(Problem(loc=(*where, "by"), message=f"{definition.id} is not kept per {pareto.by}"))
        if pareto.rate == "miss" and definition.sla is None:
            problems.append(Problem(loc=(*where, "rate"), message=f"{definition.id} has no SLA to miss"))
    return problems


def _check_workforce(topology: Topology, teams: set[str]) -> list[Problem]:
    """The workforce section reads two metric definitions' interval history; its queues select on their
    dimensions and are staffed by declared teams."""
    workforce = topology.workforce
    if not workforce.queues:
        return []
    problems: list[Problem] = []
    definitions = {d.id: d for d in topology.metrics.definitions}
    wanted = {"arrivals": Indicator.CONTACTS, "handle_time": Indicator.HANDLE_TIME}
    found = {}
    for field, indicator in wanted.items():
        name = getattr(workforce, field)
        definition = definitions.get(name)
        if definition is None or definition.indicator is not indicator:
            problems.append(Problem(loc=("workforce", field), message=f"no metric definition {name!r} with "
                                    f"indicator {indicator.value}"))  # fmt: skip
            continue
        interval_ms = definition.history.interval_ms
        if interval_ms is None or workforce.interval_ms % interval_ms:
            problems.append(Problem(loc=("workforce", "interval"), message=f"{name} keeps no history in intervals "
                                    f"that make up {workforce.interval} (declare history.interval on it)"))  # fmt: skip
        found[field] = definition
    if workforce.gaps.owner not in teams:
        problems.append(Problem(loc=("workforce", "gaps", "owner"), message=f"{workforce.gaps.owner!r} is not a team"))
    for i, queue in enumerate(workforce.queues):
        for name in queue.where:
            if name not in PRESENCE_DIMENSIONS:
                problems.append(Problem(loc=("workforce", "queues", i, "where", name), message=f"agents on the floor "
                                        f"are known by {', '.join(PRESENCE_DIMENSIONS)}, not {name!r}"))  # fmt: skip
        if queue.team not in teams:
            problems.append(Problem(loc=("workforce", "queues", i, "team"), message=f"{queue.team!r} is not a team"))
        for name in queue.where:
            for definition in found.values():
                if name not in definition.dimensions:
                    problems.append(Problem(loc=("workforce", "queues", i, "where", name),
                                            message=f"{definition.id} does not keep dimension {name!r}"))  # fmt: skip
    return problems


def _check_alerting(topology: Topology, teams: set[str]) -> list[Problem]:
    """Threshold rules name a metric, one of its windows and its dimensions; every receiver is a team with
    a declared escalation topic."""
    problems: list[Problem] = []
    metrics = topology.metrics
    definitions = {d.id: d for d in metrics.definitions}
    windows = {w.id for w in metrics.windows}
    for i, rule in enumerate(topology.alerting.thresholds):
        loc = ("alerting", "thresholds", i)
        definition = definitions.get(rule.metric)
        if definition is None:
            problems.append(Problem(loc=(*loc, "metric"), message=f"no metric definition {rule.metric!r}"))
            continue
        if definition.indicator is Indicator.CONTACTS:
            problems.append(Problem(loc=(*loc, "metric"), message=f"{rule.metric} counts contacts: threshold rules "
                                    "test scores, shares and durations, not volumes"))  # fmt: skip
        if rule.window not in windows:
            problems.append(Problem(loc=(*loc, "window"), message=f"no window {rule.window!r}"))
        for j, name in enumerate(rule.scope_by):
            if name not in definition.dimensions:
                problems.append(
                    Problem(loc=(*loc, "scope_by", j), message=f"{rule.metric} does not keep dimension {name!r}")
                )
    drivers = {d for lexicon in topology.verbatims.lexicons for d in lexicon.drivers}
    for i, hot in enumerate(topology.alerting.hot_alerts):
        loc = ("alerting", "hot_alerts", i)
        if hot.owner is not None and hot.owner not in teams:
            problems.append(Problem(loc=(*loc, "owner"), message=f"no team {hot.owner!r}"))
        for j, driver in enumerate(hot.when.drivers_any):
            if driver not in drivers:
                problems.append(Problem(loc=(*loc, "when", "drivers_any", j), message=f"no verbatim driver {driver!r}"))
    receivers: list[tuple[Loc, str]] = []
    if topology.alerting.routing is not None:
        receivers += [(("alerting", "routing", *where), r) for where, r in topology.alerting.routing.receivers()]
    for i, policy in enumerate(topology.alerting.escalation_policies):
        receivers += [
            (("alerting", "escalation_policies", i, "levels", j, "receiver"), level.receiver)
            for j, level in enumerate(policy.levels)
            if level.receiver is not None
        ]
    topics = {t.name for t in topology.topics}
    for where, receiver in receivers:
        if receiver not in teams:
            problems.append(Problem(loc=where, message=f"no team {receiver!r}"))
        elif f"{ESCALATION_PREFIX}{receiver}" not in topics:
            problems.append(Problem(loc=where, message=f"team {receiver!r} has no topic {ESCALATION_PREFIX}{receiver}"))
    return problems
