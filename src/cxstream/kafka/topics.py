"""Create the declared topics and compare them with what the cluster has. Never deletes or shrinks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cxstream.domain.catalog import Topics
from cxstream.domain.topology import TopicSpec, Topology

_TOPIC_ALREADY_EXISTS = 36
_COMPARED_CONFIGS = ("cleanup.policy", "retention.ms")


@dataclass(frozen=True)
class ActualTopic:
    name: str
    partitions: int
    replication: int
    configs: dict[str, str]  # empty when the broker does not describe configs


@dataclass
class TopicReport:
    spec: TopicSpec
    status: str  # created | ok | drift | missing | error
    actual: ActualTopic | None = None
    errors: list[str] = field(default_factory=list)  # drift that breaks processing
    warnings: list[str] = field(default_factory=list)  # drift worth knowing
    capped_replication: int | None = None  # created with fewer replicas than declared: the cluster is smaller

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def effective_replication(spec: TopicSpec, brokers: int) -> int:
    return max(1, min(spec.replication, brokers))


def compare(spec: TopicSpec, actual: ActualTopic, brokers: int) -> tuple[list[str], list[str]]:
    """(errors, warnings) between a declaration and an existing topic."""
    errors, warnings = [], []
    if actual.partitions != spec.partitions:
        errors.append(
            f"has {actual.partitions} partitions, declared {spec.partitions}: co-partitioned processing "
            "would break; change the declaration or repartition by hand (cxstream never alters partitions)"
        )
    wanted_rf = effective_replication(spec, brokers)
    if actual.replication < wanted_rf:
        warnings.append(f"replication {actual.replication}, declared {spec.replication}")
    if actual.configs:
        for key in _COMPARED_CONFIGS:
            want = spec.broker_configs()[key]
            have = actual.configs.get(key)
            if have is not None and have != want:
                warnings.append(f"{key}={have}, declared {want}")
    return errors, warnings


class TopicAdmin:
    def __init__(self, client_options: dict[str, Any]) -> None:
        self._client = AIOKafkaAdminClient(**client_options, request_timeout_ms=15000)

    async def __aenter__(self) -> TopicAdmin:
        await self._client.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    async def broker_count(self) -> int:
        cluster = await self._client.describe_cluster()
        return max(1, len(cluster.get("brokers", [])))

    async def actual_topics(self, names: list[str] | None = None) -> dict[str, ActualTopic]:
        existing = set(await self._client.list_topics())
        wanted = sorted(existing if names is None else existing & set(names))
        if not wanted:
            return {}
        described = await self._client.describe_topics(wanted)
        configs = await self._configs(wanted)
        found = {}
        for topic in described:
            if topic.get("error_code", 0) != 0:
                continue
            partitions = topic["partitions"]
            replication = min((len(p["replicas"]) for p in partitions), default=0)
            name = topic["topic"]
            found[name] = ActualTopic(name, len(partitions), replication, configs.get(name, {}))
        return found

    async def _configs(self, names: list[str]) -> dict[str, dict[str, str]]:
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        try:
            responses = await self._client.describe_configs(resources)
        except Exception:  # some brokers do not implement DescribeConfigs: configs stay unknown
            return {}
        out: dict[str, dict[str, str]] = {}
        for response in responses:
            for resource in response.resources:
                error_code, _msg, _type, name, entries = resource[:5]
                if error_code == 0:
                    out[name] = {entry[0]: entry[1] for entry in entries if entry[1] is not None}
        return out

    async def apply(self, topology: Topology) -> list[TopicReport]:
        """Create every missing declared topic; report drift on the others."""
        brokers = await self.broker_count()
        actual = await self.actual_topics([t.name for t in topology.topics])
        reports: dict[str, TopicReport] = {}
        missing = []
        for spec in topology.topics:
            if spec.name in actual:
                errors, warnings = compare(spec, actual[spec.name], brokers)
                status = "drift" if errors or warnings else "ok"
                reports[spec.name] = TopicReport(spec, status, actual[spec.name], errors, warnings)
            else:
                missing.append(spec)
        if missing:
            new = [
                NewTopic(s.name, s.partitions, effective_replication(s, brokers), topic_configs=s.broker_configs())
                for s in missing
            ]
            response = await self._client.create_topics(new)
            outcome = {name: (code, message) for name, code, message in response.topic_errors}
            for spec in missing:
                code, message = outcome.get(spec.name, (0, None))
                report = TopicReport(spec, "created")
                if code == _TOPIC_ALREADY_EXISTS:  # created concurrently by someone else
                    report.status = "ok"
                elif code != 0:
                    report.status = "error"
                    report.errors.append(f"create failed: error {code}: {message}")
                rf = effective_replication(spec, brokers)
                if report.status == "created" and rf < spec.replication:
                    report.capped_replication = rf
                reports[spec.name] = report
        return [reports[s.name] for s in topology.topics]

    async def status(self, topology: Topology) -> tuple[list[TopicReport], list[ActualTopic]]:
        """Declared vs actual without changing anything, plus undeclared ``cx.*`` topics."""
        brokers = await self.broker_count()
        actual = await self.actual_topics()
        reports = []
        for spec in topology.topics:
            if spec.name not in actual:
                reports.append(TopicReport(spec, "missing"))
                continue
            errors, warnings = compare(spec, actual[spec.name], brokers)
            reports.append(
                TopicReport(spec, "drift" if errors or warnings else "ok", actual[spec.name], errors, warnings)
            )
        declared = {s.name for s in topology.topics}
        undeclared = [
            a for name, a in sorted(actual.items()) if name.startswith(Topics.NAMESPACE) and name not in declared
        ]
        return reports, undeclared
