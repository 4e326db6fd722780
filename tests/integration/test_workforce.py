"""Workforce on the embedded broker: past helpdesk contacts imported into metric history, then a worker's
staffing API and the ``forecast`` / ``staffing plan`` commands, checked against the file."""

from __future__ import annotations

import json
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cxstream.demo.past import past_contacts
from cxstream.kafka.embedded import free_port
from tests.integration.procs import eventually, http_get, ready, spawn, stop
from tests.integration.test_history import cxstream
from tests.integration.test_metrics import ADMIN_TOKEN, api, worker_env

pytestmark = pytest.mark.integration
STEP_MS = 30 * 60_000
WEEKS = 3


def test_the_forecast_and_staffing_follow_the_imported_contacts(bootstrap: str, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    first = today - timedelta(days=7 * WEEKS)
    lines = list(past_contacts(first, 7 * WEEKS, per_weekday=400, seed=31))
    path = tmp_path / "contacts.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-workforce-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 240, "the worker to be ready")
        done = cxstream(["import", "--history", "--source", "canonical", "--until", str(today), str(path)], bootstrap)
        assert done.returncode == 0, done.stderr
        listed = api(port, "/api/workforce")
        assert listed["interval_minutes"] == 30
        assert {q["id"] for q in listed["queues"]} >= {"emea-chat", "emea-email", "billing"}

        def planned() -> dict[str, object] | None:
            body = api(port, f"/api/workforce/emea-chat?chart=svg&day={today}")
            return body if body["history"]["days"] >= 7 * WEEKS else None

        body = eventually(planned, 60, "the worker to read the imported contacts")
        assert body["queue"]["model"] == "erlang_a" and body["insufficient"] is None
        assert body["accuracy"]["days"] == 7 and body["accuracy"]["intervals"] == 7 * 48
        want = expected_counts(lines, today)
        peak = max(body["intervals"], key=lambda i: i["arrivals"]["forecast"] or 0)
        for interval in body["intervals"]:
            start = int(datetime.fromisoformat(interval["start"]).timestamp() * 1000)
            assert interval["arrivals"]["weeks"] == WEEKS
            assert interval["arrivals"]["forecast"] == pytest.approx(want[start], abs=0.006), interval["start"]
            low, high = interval["arrivals"]["low"], interval["arrivals"]["high"]
            assert low <= interval["arrivals"]["forecast"] <= high
        assert peak["agents"] >= 1 and peak["positions"] >= peak["agents"]
        assert peak["service_level"] >= 0.8 and peak["handle_time"]["n"] > 0
        assert "<svg" in body["charts"]["contacts"] and "agents needed" in body["charts"]["agents"]

        status, refused = http_get(f"http://127.0.0.1:{port}/api/workforce/nowhere", timeout=30, token=ADMIN_TOKEN)
        assert status == 404 and "no queue" in refused
        status, refused = http_get(f"http://127.0.0.1:{port}/api/workforce/emea-chat?days=40", timeout=30,
                                   token=ADMIN_TOKEN)  # fmt: skip
        assert status == 400 and "days" in refused

        shown = cxstream(["forecast", "--queue", "emea-chat", "--day", str(today), "--json"], bootstrap)
        assert shown.returncode == 0, shown.stderr
        [from_cli] = json.loads(shown.stdout)
        assert [i["arrivals"] for i in from_cli["intervals"]] == [i["arrivals"] for i in body["intervals"]]
        text = cxstream(["staffing", "plan", "--queue", "emea-chat", "--day", str(today)], bootstrap)
        assert text.returncode == 0 and "EMEA chat (emea-chat)" in text.stdout and "positions" in text.stdout
        assert f"accuracy on the last 7 days (n={7 * 48} intervals)" in text.stdout
    finally:
        stop(worker, signal.SIGTERM)


def expected_counts(lines: list[bytes], today: object) -> dict[int, float]:
    """Today's forecast per interval computed straight from the file: the mean of the same interval on the
    previous weeks, for EMEA chat contacts."""
    counts: dict[int, int] = {}
    for line in lines:
        record = json.loads(line)
        if record["event_type"] != "TICKET_CREATED" or record["region"] != "emea" or record["channel"] != "chat":
            continue
        at = int(datetime.fromisoformat(record["event_time"].replace("Z", "+00:00")).timestamp() * 1000)
        counts[at - at % STEP_MS] = counts.get(at - at % STEP_MS, 0) + 1
    midnight = int(datetime.combine(today, datetime.min.time(), UTC).timestamp() * 1000)  # type: ignore[arg-type]
    week = 7 * 86_400_000
    return {
        start: sum(counts.get(start - k * week, 0) for k in range(1, WEEKS + 1)) / WEEKS
        for start in range(midnight, midnight + 86_400_000, STEP_MS)
    }
