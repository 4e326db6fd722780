"""What an SRE sees of a live worker on the embedded broker: `/metrics` passes `promtool check metrics` and
shows every metric cxstream defines; `/status` and `cxstream status` give lag per partition, recovery state,
table sizes and the last breach; the worker's log never carries a customer id or what the customer wrote."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from cxstream.kafka.embedded import free_port
from tests.integration.procs import CXSTREAM, ROOT, eventually, http_get, ready, spawn, stop
from tests.integration.test_breaches import breaches, detractor, produce
from tests.integration.test_metrics import worker_env
from tests.unit.test_deploy import defined_metrics, sample_names

pytestmark = pytest.mark.integration


def test_metrics_pass_promtool_status_tells_lag_and_last_breach_and_logs_hold_no_personal_data(
    bootstrap: str, tmp_path: Path
) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make test` installs it (Debian package prometheus)"
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-ops-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    log = tmp_path / "worker.log"
    worker = spawn(["worker"], env, log)
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        customer, event_id = f"C-{uuid.uuid4().hex[:8]}", f"ops-{uuid.uuid4().hex[:8]}"
        words = "Fourth late parcel. I am cancelling my account and telling everyone."
        asyncio.run(produce(bootstrap, [detractor(event_id, words, customer)]))
        [hot] = eventually(lambda: [b for b in breaches(bootstrap) if event_id in b["event_ids"]], 120, "hot alert")

        def status() -> dict[str, object]:
            code, body = http_get(f"http://127.0.0.1:{port}/status")
            assert code == 200, body
            return json.loads(body)  # type: ignore[no-any-return]

        state = eventually(lambda: (s := status())["last_breach"] and s, 60, "the last breach on /status")
        assert state["ready"] is True and state["recovery"]["completed"] is True  # type: ignore[index]
        lag = {(row["topic"], row["partition"]) for row in state["consumer_lag"]}  # type: ignore[attr-defined]
        assert {("cx.events", p) for p in range(6)} <= lag
        assert not any(topic.endswith("-changelog") for topic, _ in lag)  # their backlog is the changelog lag
        assert "cxstream-cases" in state["tables"]  # type: ignore[operator]
        public = json.dumps(state)  # /status needs no token: no customer id and no customer's words on it
        assert customer not in public and "cancelling" not in public and "summary" not in public

        code, text = http_get(f"http://127.0.0.1:{port}/metrics")
        assert code == 200
        checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        helped = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")}
        missing = [name for name in defined_metrics() if not sample_names(name) & helped]
        assert not missing, missing
        assert 'cxstream_consumer_lag{partition="0",topic="cx.events"}' in text

        cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}, **env}
        done = subprocess.run([*CXSTREAM, "status"], cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "ready" in done.stdout and "consumer lag:" in done.stdout and "recovery: completed" in done.stdout
        assert f"last breach: {hot['breach_id']} FIRING CRITICAL detractor.critical-driver" in done.stdout
        assert customer not in done.stdout and "cancelling" not in done.stdout
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0
    written = log.read_text()
    assert event_id in written or hot["breach_id"] in written  # the log does follow the event
    assert customer not in written and "cancelling" not in written and "telling everyone" not in written
