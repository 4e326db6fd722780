"""deploy/: the compose file and the Kubernetes manifests parse and set only settings that exist (with values
the settings accept); the alert rules pass promtool and their unit tests; the rules and the dashboard only
name metrics cxstream defines."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from cxstream.observability.metrics import REGISTRY
from cxstream.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS = {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def defined_metrics() -> set[str]:
    names = set()
    for collector in list(REGISTRY._collector_to_names):
        for family in collector.describe():
            names.add(family.name)
    return names


def sample_names(metric: str) -> set[str]:
    return {metric, f"{metric}_total", f"{metric}_bucket", f"{metric}_sum", f"{metric}_count", f"{metric}_info"}


def env_of(values: Any) -> dict[str, Any]:
    if isinstance(values, list):  # Kubernetes: [{name, value | valueFrom}]
        return {item["name"]: item.get("value", "<from secret>") for item in values}
    return dict(values or {})


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def manifests() -> list[dict[str, Any]]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]


def test_the_compose_file_has_three_kraft_brokers_a_registry_workers_prometheus_and_grafana() -> None:
    services = compose()["services"]
    brokers = [s for s in services.values() if "KAFKA_PROCESS_ROLES" in (s.get("environment") or {})]
    assert len(brokers) == 3 and all(b["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller" for b in brokers)
    assert len({b["environment"]["KAFKA_NODE_ID"] for b in brokers}) == 3
    assert {"schema-registry", "prometheus", "grafana", "worker-1", "worker-2"} <= set(services)
    for volume in services["prometheus"]["volumes"] + services["grafana"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (DEPLOY / source).exists(), source


@pytest.mark.parametrize("where", ["compose", "k8s"])
def test_every_environment_variable_set_is_a_setting_and_valid(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if where == "compose":
        envs = [env_of(s.get("environment")) for s in compose()["services"].values()]
    else:
        envs = [
            env_of(c.get("env"))
            for doc in manifests()
            if doc["kind"] == "StatefulSet"
            for c in doc["spec"]["template"]["spec"]["containers"]
        ]
    mine = [{k: v for k, v in env.items() if k.startswith(ENV_PREFIX)} for env in envs]
    mine = [env for env in mine if env]
    assert mine, "no cxstream service found"
    for env in mine:
        assert set(env) <= SETTINGS, sorted(set(env) - SETTINGS)
        for key in list(Settings.model_fields):
            monkeypatch.delenv(ENV_PREFIX + key.upper(), raising=False)
        for key, value in env.items():
            text = str(value)
            text = "secret" if text == "<from secret>" else re.sub(r"\$\{[^}]*\}", "", text)
            if text:
                monkeypatch.setenv(key, text)
        Settings()  # the values themselves pass validation


def test_the_kubernetes_manifests_hold_what_operations_needs() -> None:
    kinds = {doc["kind"]: doc for doc in manifests()}
    assert {"StatefulSet", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= set(kinds)
    workers = kinds["StatefulSet"]
    [container] = workers["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert workers["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    assert env_of(container["env"])["CXSTREAM_STORE"] == "rocksdb://"
    hpa = kinds["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == workers["metadata"]["name"]
    from cxstream.app import load_context

    events = load_context(Settings()).topology.topic("cx.events")
    assert hpa["spec"]["maxReplicas"] <= events.partitions  # more workers than partitions idle


def test_rules_and_dashboard_name_only_defined_metrics() -> None:
    known = {sample for name in defined_metrics() for sample in sample_names(name)}
    texts = [(DEPLOY / "prometheus/alerts.yml").read_text(), (DEPLOY / "grafana/dashboards/cxstream.json").read_text()]
    used = {name for text in texts for name in re.findall(r"\bcxstream_[a-z_]+", text)}
    assert used and used <= known, sorted(used - known)
    dashboard = json.loads(texts[1])
    assert all(panel["targets"] for panel in dashboard["panels"])


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: `make test` installs it (Debian package prometheus)")
    return found


def test_the_alert_rules_pass_promtool_and_their_unit_tests() -> None:
    rules = DEPLOY / "prometheus"
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        done = subprocess.run([promtool(), *args], cwd=rules, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
