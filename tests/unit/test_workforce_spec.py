"""topologies/workforce.yaml: validated at start, errors naming file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cxstream.config.topology import load_topology
from cxstream.config.yaml_source import ConfigError
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = SchemaCatalog.from_dir(ROOT / "schemas").names()


def topology_with(tmp_path: Path, workforce: str) -> Path:
    shutil.copytree(ROOT / "topologies", tmp_path / "topologies")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "topologies/workforce.yaml").write_text(workforce)
    return tmp_path / "topologies"


def problems(tmp_path: Path, workforce: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_topology(topology_with(tmp_path, workforce), SCHEMAS)
    return caught.value.problems


def test_the_repository_queues_inherit_the_default_target() -> None:
    workforce = load_topology(ROOT / "topologies", SCHEMAS).workforce
    email, chat = workforce.queue("emea-email"), workforce.queue("emea-chat")
    assert workforce.service_target(email).answer_within_s == 4 * 3600
    assert workforce.service_target(email).shrinkage == 0.3  # inherited
    assert workforce.service_target(chat).answer_within_s == 20 and workforce.patience_s(chat) == 180
    assert workforce.patience_s(email) is None  # Erlang C


def test_cross_checks_name_the_line_and_field(tmp_path: Path) -> None:
    text = """\
workforce:
  interval: 30m
  arrivals: csat.delivery
  queues:
    - {id: q-one, display: One, where: {region: emea, touchpoint: delivery}, team: nobody}
"""
    found = problems(tmp_path, text)
    path = tmp_path / "topologies/workforce.yaml"
    assert f"{path}:3: workforce.arrivals: no metric definition 'csat.delivery' with indicator contacts" in found
    assert f"{path}:5: workforce.queues[0].team: 'nobody' is not a team" in found
    assert any(
        p.startswith(f"{path}:5: workforce.queues[0].where.touchpoint: handle_time does not keep") for p in found
    )


def test_value_errors_name_the_field(tmp_path: Path) -> None:
    text = """\
workforce:
  interval: 20m
  target: {service_level: 1.5}
  queues:
    - {id: Q, display: One, team: billing}
"""
    found = "\n".join(problems(tmp_path, text))
    assert "workforce.yaml:2: workforce.interval" in found and "15m, 30m" in found
    assert "workforce.yaml:3: workforce.target.service_level" in found
    assert "workforce.yaml:5: workforce.queues[0].id" in found


def test_an_interval_finer_than_the_history_is_refused(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "topologies", tmp_path / "topologies")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    metrics = tmp_path / "topologies/metrics.yaml"
    metrics.write_text(
        metrics.read_text().replace(
            "history: {interval: 15m}   # per 15 minutes, for the workforce",
            "history: {interval: 30m}   # per 15 minutes, for the workforce",
        )
    )
    text = (tmp_path / "topologies/workforce.yaml").read_text().replace("interval: 30m ", "interval: 15m ")
    (tmp_path / "topologies/workforce.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_topology(tmp_path / "topologies", SCHEMAS)
    assert any(
        "workforce.interval: handle_time keeps no history in intervals that make up 15m" in p
        for p in caught.value.problems
    )


def test_tiers_take_the_first_matching_rule() -> None:
    from datetime import UTC, datetime

    from cxstream.domain.ingest.events import CanonicalEvent, EventType, Operation
    from cxstream.domain.workforce.tiers import tier_of

    tiers = load_topology(ROOT / "topologies", SCHEMAS).workforce.tiers

    def ticket(priority: str, kind: str | None, team: str = "customer-service") -> CanonicalEvent:
        return CanonicalEvent.model_validate({
            "event_id": "t", "event_type": EventType.TICKET_SOLVED, "event_time": datetime(2026, 12, 1, tzinfo=UTC),
            "ingest_time": datetime(2026, 12, 1, tzinfo=UTC), "source": "helpdesk", "source_record_id": "t",
            "team": team, "operation": Operation(ticket_id="1", priority=priority),
            "attributes": {"ticket_type": kind} if kind else {},
        })  # fmt: skip

    assert tier_of(tiers, ticket("normal", "problem")) == "complex"
    assert tier_of(tiers, ticket("HIGH", "question")) == "complex"  # the first matching tier wins
    assert tier_of(tiers, ticket("normal", "question", team="billing")) == "complex"
    assert tier_of(tiers, ticket("low", "question")) == "simple"
    assert tier_of(tiers, ticket("normal", None)) == "standard"
    survey = ticket("normal", "problem").model_copy(update={"event_type": EventType.SURVEY_RESPONSE})
    assert tier_of(tiers, survey) is None  # only helpdesk contacts have a tier


def test_bad_tiers_name_the_field(tmp_path: Path) -> None:
    text = """\
workforce:
  tiers:
    - {id: complex, display: Complex, any: [{mood: [angry]}]}
    - {id: rest, display: Rest, any: [{priority: [low]}]}
"""
    found = "\n".join(problems(tmp_path, text))
    assert "workforce.yaml:3: workforce.tiers[0].any" in found and "'mood' is not a field" in found
