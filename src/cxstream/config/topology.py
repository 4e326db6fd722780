"""Load ``topologies/*.yaml`` into one validated :class:`Topology`, or fail naming file, line and field."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from cxstream.config.yaml_source import ConfigError, Loc, YamlSource, load_yaml
from cxstream.domain.topology import ConnectorSpec, Team, TopicSpec, Topology, TopologyFile, check_topology
from cxstream.domain.validation import Reference, ValidationSpec


def topology_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise ConfigError([f"{directory}: topology directory not found (set CXSTREAM_TOPOLOGY_DIR)"])
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise ConfigError([f"{directory}: no *.yaml topology file"])
    return files


def load_topology(
    directory: Path, schema_names: Iterable[str], known_connectors: Iterable[str] | None = None
) -> Topology:
    """Every file is validated on its own, then cross-file rules run on the merged result."""
    problems: list[str] = []
    teams: list[Team] = []
    topics: list[TopicSpec] = []
    connectors: list[ConnectorSpec] = []
    singletons: dict[str, tuple[Path, Reference | ValidationSpec]] = {}
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
        for section in ("reference", "validation"):
            value = getattr(parsed, section)
            if value is None:
                continue
            if section in singletons:
                first = singletons[section][0]
                problems.append(source.problem((section,), f"{section} is already declared in {first}"))
            else:
                singletons[section] = (path, value)
    known = set(known_connectors) if known_connectors is not None else None
    for problem in check_topology(teams, topics, set(schema_names), connectors, known):
        where, index, *rest = problem.loc
        origin, loc = origins[str(where)][int(index)]
        problems.append(origin.problem((*loc, *rest), problem.message))
    if problems:
        raise ConfigError(problems)
    reference = singletons.get("reference", (None, Reference()))[1]
    validation = singletons.get("validation", (None, ValidationSpec()))[1]
    assert isinstance(reference, Reference) and isinstance(validation, ValidationSpec)
    return Topology(
        teams=tuple(teams),
        topics=tuple(topics),
        connectors=tuple(connectors),
        reference=reference,
        validation=validation,
    )


def example_path(directory: Path, topic: TopicSpec) -> Path | None:
    """Absolute path of a topic's example payload (paths are relative to the topology directory)."""
    return (directory / topic.example).resolve() if topic.example else None
