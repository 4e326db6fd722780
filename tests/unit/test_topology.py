from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cxstream.cli import main
from cxstream.config.topology import example_path, load_topology
from cxstream.config.yaml_source import ConfigError
from cxstream.serde.avro import read_avro_json
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = SchemaCatalog.from_dir(ROOT / "schemas")
SCHEMAS = CATALOG.names()

TEAMS = """\
teams:
  - id: data-platform
    name: Data platform
  - id: logistics
    name: Logistics
"""

TOPIC = """\
  - name: {name}
    description: A topic declared for a test.
    owner: {owner}
    partitions: {partitions}
    value: {{format: avro, schema: cxstream.CanonicalEvent}}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def topics(*items: str) -> str:
    return "topics:\n" + "".join(items)


def errors_of(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_topology(directory, SCHEMAS, required_topics=())  # partial topologies: the catalog is tested apart
    return caught.value.problems


def test_repository_topology_is_valid_and_complete() -> None:
    topology = load_topology(ROOT / "topologies", SCHEMAS)
    names = {t.name for t in topology.topics}
    assert {"cx.events", "cx.dlq", "cx.breaches", "cx.cases", "cx.case-actions"} <= names
    assert {t.name for t in topology.raw_topics()} >= {"cx.raw.crm", "cx.raw.erp", "cx.raw.helpdesk"}
    teams = {t.id for t in topology.teams}
    assert {t.name.removeprefix("cx.escalations.") for t in topology.escalation_topics()} <= teams
    assert topology.topic("cx.cases").broker_configs()["cleanup.policy"] == "compact"
    assert topology.topic("cx.case-actions").retention_ms == -1


def test_every_example_payload_fits_its_topic() -> None:
    directory = ROOT / "topologies"
    for topic in load_topology(directory, SCHEMAS).topics:
        path = example_path(directory, topic)
        assert path is not None, f"{topic.name} has no example"
        text = path.read_text()
        if topic.value.schema_:
            read_avro_json(CATALOG.get(topic.value.schema_), text)
        else:
            assert isinstance(json.loads(text), dict | list)


def test_wrong_type_names_file_line_and_field(tmp_path: Path) -> None:
    write(tmp_path, "teams.yaml", TEAMS)
    path = write(
        tmp_path,
        "topics.yaml",
        topics(
            TOPIC.format(name="a", owner="logistics", partitions=3),
            TOPIC.format(name="b", owner="logistics", partitions="many"),
        ),
    )
    assert errors_of(tmp_path) == [
        f"{path}:10: topics[1].partitions: Input should be a valid integer, unable to parse string as an integer "
        "(got 'many')"
    ]


def test_missing_and_unknown_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "topics.yaml",
        TEAMS + "topics:\n  - name: a\n    owner: logistics\n    partitions: 1\n    colour: blue\n"
        "    value: {format: raw}\n",
    )
    problems = errors_of(tmp_path)
    assert f"{path}:7: topics[0].description: Field required" in problems
    assert f"{path}:10: topics[0].colour: unknown field" in problems


def test_cross_file_references_point_at_the_referring_line(tmp_path: Path) -> None:
    write(tmp_path, "a_teams.yaml", TEAMS)
    path = write(
        tmp_path,
        "b_topics.yaml",
        topics(
            TOPIC.format(name="cx.x", owner="logistics", partitions=3),
            TOPIC.format(name="cx.y", owner="marketing", partitions=3),
            TOPIC.format(name="cx.x", owner="logistics", partitions=3),
        ),
    )
    assert errors_of(tmp_path) == [
        f"{path}:9: topics[1].owner: unknown team 'marketing'; declare it under teams",
        f"{path}:12: topics[2].name: topic 'cx.x' is declared twice",
    ]


def test_unknown_schema_and_escalation_team(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.yaml",
        TEAMS
        + "topics:\n"
        + "  - name: cx.escalations.marketing\n    description: Escalations for nobody.\n    owner: logistics\n"
        + "    partitions: 3\n    value: {format: avro, schema: cxstream.Nope}\n",
    )
    problems = errors_of(tmp_path)
    assert f"{path}:7: topics[0].name: escalation topic for unknown team 'marketing'" in problems
    assert any(p.startswith(f"{path}:11: topics[0].value.schema: no schema 'cxstream.Nope'") for p in problems)


def test_value_rules_and_durations(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.yaml",
        TEAMS
        + "topics:\n  - name: cx.z\n    description: Raw bytes with a schema.\n    owner: logistics\n"
        + "    partitions: 3\n    retention: 7 days\n    value: {format: raw, schema: cxstream.Case}\n",
    )
    problems = errors_of(tmp_path)
    assert any(p.startswith(f"{path}:11: topics[0].retention: '7 days' is not a duration") for p in problems)
    assert any(p.startswith(f"{path}:12: topics[0].value: a raw value takes no schema") for p in problems)


def test_yaml_syntax_and_duplicate_keys(tmp_path: Path) -> None:
    bad = write(tmp_path, "a.yaml", "teams:\n  - id: x\n    name: [unclosed\n")
    dup = write(tmp_path, "b.yaml", "teams:\n  - id: logistics\n    name: One\n    name: Two\n")
    problems = errors_of(tmp_path)
    assert problems[0].startswith(f"{bad}:4: invalid YAML")
    assert problems[1].startswith(f"{dup}:4: invalid YAML: duplicate key 'name' (first on line 3)")


def test_missing_example_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.yaml",
        TEAMS + topics(TOPIC.format(name="cx.e", owner="logistics", partitions=1) + "    example: nowhere.json\n"),
    )
    assert errors_of(tmp_path) == [f"{path}:12: topics[0].example: no such file: nowhere.json"]


def test_cli_fails_with_status_2_and_the_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "t.yaml", TEAMS + topics(TOPIC.format(name="cx.p", owner="logistics", partitions=0)))
    monkeypatch.setenv("CXSTREAM_TOPOLOGY_DIR", str(tmp_path))
    assert main(["config"]) == 2
    assert f"{path}:10: topics[0].partitions: Input should be greater than or equal to 1 (got 0)" in (
        capsys.readouterr().err
    )


def test_a_topic_cxstream_uses_must_be_declared(tmp_path: Path) -> None:
    """The topic catalog (domain/catalog.py) is checked against the YAML: a missing topic fails at start."""
    shutil.copytree(ROOT / "topologies", tmp_path / "topologies")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    path = tmp_path / "topologies/topics.yaml"
    text = path.read_text()
    start = text.index("  - name: cx.silences")
    path.write_text(text[:start] + text[text.index("  - name: cx.cases") :])
    with pytest.raises(ConfigError) as caught:
        load_topology(tmp_path / "topologies", SCHEMAS)
    assert caught.value.problems == [f"{path}:5: topics: topic 'cx.silences' is missing: cxstream reads or writes it"]


def test_a_raw_topic_has_as_many_partitions_as_the_events(tmp_path: Path) -> None:
    """The normalize agent's tables (seen event ids, tickets) are partitioned like cx.events and fed from every raw
    topic: Faust refuses a source topic with another partition count, so it is refused at start instead."""
    path = write(tmp_path, "topics.yaml", TEAMS + topics(
        TOPIC.format(name="cx.events", owner="data-platform", partitions=6),
        TOPIC.format(name="cx.raw.kiosk", owner="data-platform", partitions=3),
    ))  # fmt: skip
    assert errors_of(tmp_path) == [
        f"{path}:15: topics[1].partitions: 3: a raw topic has as many partitions as cx.events (6), which the "
        "normalize agent's tables are partitioned by"
    ]
