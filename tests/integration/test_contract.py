"""The HTTP API against its own OpenAPI document, on a live worker: schemathesis generates requests for every
operation (valid and invalid ones) and checks that no request makes a server error and that every status
code, content type and response body is the one the document promises."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from cxstream.kafka.embedded import free_port
from tests.integration.procs import ROOT, eventually, http_get, ready, spawn, stop
from tests.integration.test_breaches import breaches, produce
from tests.integration.test_metrics import ADMIN_TOKEN, worker_env
from tests.integration.test_warroom import complaint

pytestmark = pytest.mark.integration
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_the_api_keeps_its_openapi_contract(bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-contract-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        tag = uuid.uuid4().hex[:8]
        asyncio.run(produce(bootstrap, [complaint(f"ct-{tag}", f"C-{tag}", "emea", "ams-1")]))
        eventually(lambda: [b for b in breaches(bootstrap) if f"ct-{tag}" in b["event_ids"]], 120, "a hot alert")
        code, body = http_get(f"http://127.0.0.1:{port}/openapi.json")
        assert code == 200 and json.loads(body)["openapi"].startswith("3.")
        schemathesis = Path(sys.executable).parent / "schemathesis"
        done = subprocess.run(
            [str(schemathesis), "run", f"http://127.0.0.1:{port}/openapi.json", "--header",
             f"Authorization: Bearer {ADMIN_TOKEN}", "--checks", CHECKS, "--max-examples", "30",
             "--exclude-path", "/api/stream", "--exclude-path", "/ingest/{source}",  # ingest: own token, test_ingest
             "--request-timeout", "20", "--seed", "7"],
            cwd=ROOT, env={**os.environ, "NO_COLOR": "1"}, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0
