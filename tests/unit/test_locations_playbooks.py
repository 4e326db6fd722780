"""Playbooks: local adaptations tighten regulatory rules and never loosen them (checked at start, naming the
field), the playbook each site runs, the rollout map, and a wave's before and after with the spread across
sites."""

from __future__ import annotations

import random
import shutil
from datetime import date
from pathlib import Path

import pytest

from cxstream.config.topology import load_topology
from cxstream.config.yaml_source import ConfigError
from cxstream.domain.locations.playbooks import Wave, rollout_map, wave_report
from cxstream.domain.metrics.stats import Sufficient
from cxstream.serde.catalog import SchemaCatalog

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = SchemaCatalog.from_dir(ROOT / "schemas").names()
TOPOLOGY = load_topology(ROOT / "topologies", SCHEMAS)


def test_each_site_runs_its_adapted_playbook() -> None:
    playbook = TOPOLOGY.playbooks.playbook("late-delivery-handling")
    assert playbook is not None
    amsterdam = playbook.for_site("ams-1", "emea")
    assert amsterdam.rules["pii_retention"].value == "30d" and amsterdam.language == "nl"  # GDPR: tightened
    manila = playbook.for_site("mnl-1", "apac")
    assert next(s for s in manila.steps if s.id == "notify").text.startswith("Send the delay notice by SMS")
    assert manila.rules["pii_retention"].value == "90d"  # the central rule
    assert [s.id for s in manila.steps] == ["detect", "notify", "rebook", "follow-up"]
    versions = rollout_map([playbook], ["ams-1", "chi-1", "lis-1"], date(2026, 10, 20))
    assert versions["late-delivery-handling"] == {"ams-1": "2", "chi-1": None, "lis-1": None}  # wave 2 not yet


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("pii_retention: {kind: max_retention, value: 30d}", "pii_retention: {kind: max_retention, value: 180d}",
         "adaptations[0].rules.pii_retention: 180d loosens the central 90d (a retention may only shrink)"),
        ("pii_retention: {kind: max_retention, value: 30d}", "pii_retention: {kind: min_interval, value: 30d}",
         "kind min_interval differs from the central max_retention"),
    ],
)  # fmt: skip
def test_an_adaptation_that_loosens_a_rule_fails_at_start(tmp_path: Path, old: str, new: str, message: str) -> None:
    shutil.copytree(ROOT / "topologies", tmp_path / "topologies")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    path = tmp_path / "topologies/playbooks.yaml"
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ConfigError) as caught:
        load_topology(tmp_path / "topologies", SCHEMAS)
    assert any(str(path) in p and message in p for p in caught.value.problems), caught.value.problems


def test_tightening_and_a_new_local_duty_are_fine(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "topologies", tmp_path / "topologies")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    path = tmp_path / "topologies/playbooks.yaml"
    path.write_text(path.read_text().replace(
        "pii_retention: {kind: max_retention, value: 30d}",
        "pii_retention: {kind: max_retention, value: 7d}\n"
        "            contact_interval: {kind: min_interval, value: 3d}\n"
        "            works_council_notice: {kind: required, value: 'yes'}"))  # fmt: skip
    playbook = load_topology(tmp_path / "topologies", SCHEMAS).playbooks.playbooks[0]
    rules = playbook.for_site("ams-1", "emea").rules
    assert rules["pii_retention"].value == "7d" and rules["contact_interval"].value == "3d"
    assert "works_council_notice" in rules


def csat(rng: random.Random, n: int, p: float) -> Sufficient:
    stats = Sufficient()
    for _ in range(n):
        stats.add_score(5 if rng.random() < p else 2)
    return stats


def test_a_wave_that_works_only_where_it_started_shows_its_spread() -> None:
    rng = random.Random(5)
    definition = TOPOLOGY.metrics.definition("csat.delivery")
    wave = Wave(id="wave-2", version="2", sites=["a", "b", "c", "d"], starts=date(2026, 11, 2))
    before = {s: csat(rng, 600, 0.75) for s in wave.sites}
    after = {"a": csat(rng, 600, 0.88), "b": csat(rng, 600, 0.87), "c": csat(rng, 600, 0.75),
             "d": csat(rng, 10, 0.9)}  # fmt: skip
    report = wave_report(wave, definition, before, after, min_n=30, confidence=0.95)
    assert report.compared == 3 and report.improved >= 2  # d has too few answers after: shown, not pooled
    assert next(s for s in report.sites if s.site == "d").difference is None
    assert report.spread is not None and report.spread > 0.03  # two sites moved, one did not
    assert report.pooled is not None and report.pooled_low is not None and report.pooled_low < report.pooled
    everywhere = wave_report(wave, definition, before, {s: csat(rng, 600, 0.87) for s in wave.sites}, 30, 0.95)
    assert everywhere.improved == 4 and (everywhere.spread or 0.0) < 0.02
    assert everywhere.pooled_low is not None and everywhere.pooled_low > 0
