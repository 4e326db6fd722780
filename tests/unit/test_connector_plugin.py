"""A third-party connector, installed as a package, is found through its entry point and runs like the
built-in ones. Uses the example package of docs/connectors.md, registered with a real .dist-info."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cxstream.app import load_context
from cxstream.config.yaml_source import ConfigError
from cxstream.connectors import registry
from cxstream.connectors.base import RawContext
from cxstream.connectors.pipeline import normalize_record
from cxstream.serde.avro import CodecFactory
from cxstream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/connector-kiosk"


def install(site: Path, entry_point: str, name: str = "cxstream_kiosk") -> None:
    """What ``pip install`` leaves behind, as far as entry-point discovery is concerned."""
    dist = site / f"{name}-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[cxstream.connectors]\n{entry_point}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "site-packages"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    yield path
    sys.modules.pop("cxstream_kiosk", None)


def test_an_installed_connector_is_found_enabled_and_runs(site: Path, tmp_path: Path) -> None:
    install(site, "kiosk = cxstream_kiosk:KioskConnector")
    assert registry.installed()["kiosk"].__name__ == "KioskConnector"

    topologies = tmp_path / "project/topologies"
    shutil.copytree(ROOT / "topologies", topologies)
    (tmp_path / "project/examples").symlink_to(ROOT / "examples")
    shutil.copy(EXAMPLE / "topologies/kiosk.yaml", topologies)
    ctx = load_context(Settings(topology_dir=topologies, schema_dir=ROOT / "schemas"))
    assert "cx.raw.kiosk" in {t.name for t in ctx.topology.topics}
    connector = ctx.connectors["cx.raw.kiosk"]

    raw = (EXAMPLE / "tests/answer.json").read_bytes()
    outcome = normalize_record(connector, raw, RawContext(datetime(2026, 11, 24, 9, 13, tzinfo=UTC)), ctx.validator)
    [event] = outcome.events
    assert not outcome.rejects and not outcome.findings  # known site and region, valid NPS score
    codec = CodecFactory(ctx.catalog).for_topic("cx.events", "cxstream.CanonicalEvent")
    assert codec.decode(codec.encode(event.to_record()))["event_id"] == "kiosk:k-7f3a"


def test_a_connector_without_its_topic_is_refused_at_start(site: Path, tmp_path: Path) -> None:
    install(site, "kiosk = cxstream_kiosk:KioskConnector")
    topologies = tmp_path / "project/topologies"
    shutil.copytree(ROOT / "topologies", topologies)
    (tmp_path / "project/examples").symlink_to(ROOT / "examples")
    with (topologies / "connectors.yaml").open("a") as extra:
        extra.write("  - name: kiosk\n")
    with pytest.raises(ConfigError, match=r"connectors.yaml:\d+: connectors\[5\]\.name: its raw topic cx.raw.kiosk"):
        load_context(Settings(topology_dir=topologies, schema_dir=ROOT / "schemas"))


@pytest.mark.parametrize(
    ("entry_point", "message"),
    [
        ("kiosk = cxstream_kiosk:NoSuchClass", "cannot be imported"),
        ("kiosk = cxstream_kiosk:KioskOptions", "is not a Connector subclass"),
        ("booth = cxstream_kiosk:KioskConnector", "loads a connector named 'kiosk'"),
    ],
)
def test_a_broken_plugin_fails_loudly(site: Path, entry_point: str, message: str) -> None:
    install(site, entry_point)
    with pytest.raises(registry.ConnectorLoadError, match=message):
        registry.installed()
