"""Load ``topologies/*.yaml`` into one validated :class:`Topology`, or fail naming file, line and field."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from cxstream.config.yaml_source import ConfigError, Loc, YamlSource, load_yaml
from cxstream.domain.catalog import Topics
from cxstream.domain.topology import (
    ConnectorSpec,
    Team,
    TopicSpec,
    Topology,
    TopologyFile,
    check_singletons,
    check_topology,
)

SINGLE_SECTIONS = ("reference", "validation", "journey", "verbatims", "metrics", "alerting", "followup", "access",
                   "workforce", "remediation", "locations", "playbooks",
                   "governance", "audits", "impact", "tolerance", "handovers")  # fmt: skip


def topology_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigError([f"{directory}: topology directory not found (set CXSTREAM_TOPOLOGY_DIR)"])
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise ConfigError([f"{directory}: no *.yaml topology file"])
    return files


def load_topology(
    directory: Path,
    schema_names: Iterable[str],
    known_connectors: Iterable[str] | None = None,
    *,
    required_topics: Iterable[str] = Topics.required(),
) -> Topology:
    """Every file is validated on its own, then cross-file rules run on the merged result, and every topic of
    the catalog that cxstream reads or writes (``required_topics``) must be declared."""
    problems: list[str] = []
    teams: list[Team] = []
    topics: list[TopicSpec] = []
    connectors: list[ConnectorSpec] = []
    singletons: dict[str, tuple[YamlSource, object]] = {}
    # where each merged item came from: (source, loc inside that source)
    origins: dict[str, list[tuple[YamlSource, Loc]]] = {"teams": [], "topics": [], "connectors": []}
    for path in topology_files(directory):
        try:
            source = load_yaml(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if not isinstance(source.data, dict):
            problems.append(source.problem((), "a topology file must be a mapping of sections (teams, topics)"))
            continue
        try:
            parsed = TopologyFile.model_validate(source.data)
        except ValidationError as exc:
            problems.extend(source.problems_from(exc))
            continue
        for i, team in enumerate(parsed.teams):
            teams.append(team)
            origins["teams"].append((source, ("teams", i)))
        for i, topic in enumerate(parsed.topics):
            topics.append(topic)
            origins["topics"].append((source, ("topics", i)))
            if topic.example is not None and not (path.parent / topic.example).is_file():
                problems.append(source.problem(("topics", i, "example"), f"no such file: {topic.example}"))
        for i, connector in enumerate(parsed.connectors):
            connectors.append(connector)
            origins["connectors"].append((source, ("connectors", i)))
        for section in SINGLE_SECTIONS:
            value = getattr(parsed, section)
            if value is None:
                continue
            if section in singletons:
                first = singletons[section][0].path
                problems.append(source.problem((section,), f"{section} is already declared in {first}"))
            else:
                singletons[section] = (source, value)
    known = set(known_connectors) if known_connectors is not None else None
    for problem in check_topology(teams, topics, set(schema_names), connectors, known):
        where, index, *rest = problem.loc
        origin, loc = origins[str(where)][int(index)]
        problems.append(origin.problem((*loc, *rest), problem.message))
    if origins["topics"]:  # (no topics at all is already reported)
        topics_file = origins["topics"][0][0]
        for name in sorted(set(required_topics) - {t.name for t in topics}):
            problems.append(topics_file.problem(("topics",), f"topic {name!r} is missing: cxstream reads or writes it"))
    if problems:
        raise ConfigError(problems)
    topology = Topology.model_validate(
        {
            "teams": tuple(teams),
            "topics": tuple(topics),
            "connectors": tuple(connectors),
            **{section: value for section, (_, value) in singletons.items()},
        }
    )
    for problem in check_singletons(topology):
        section = str(problem.loc[0])
        problems.append(singletons[section][0].problem(problem.loc, problem.message))
    if problems:
        raise ConfigError(problems)
    return topology


def example_path(directory: Path, topic: TopicSpec) -> Path | None:
    """Absolute path of a topic's example payload (paths are relative to the topology directory)."""
    return (directory / topic.example).resolve() if topic.example else None
