"""Workforce on the embedded broker: past helpdesk contacts imported into metric history, then a worker's
staffing API and the ``forecast`` / ``staffing plan`` commands, checked against the file; then the billing
queue's agents log in and leave: the staffing gap fires to the workforce team's topic and resolves; then a
team's tickets: the scorecards of the API and of ``cxstream scorecard`` match a count made by hand."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cxstream.demo.past import past_contacts
from cxstream.kafka.embedded import free_port
from tests.integration.procs import ROOT, edited_topology, eventually, http_get, ready, spawn, stop
from tests.integration.test_breaches import breaches, escalations, produce
from tests.integration.test_history import cxstream
from tests.integration.test_ingest import scrape, total
from tests.integration.test_metrics import ADMIN_TOKEN, api, worker_env
from tests.integration.tickets import WEAK, ticket_records

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
    env["CXSTREAM_TOPOLOGY_DIR"] = str(quick_gaps(tmp_path))
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
        assert body["yearly"]["factor"] is None and "needs a year" in body["yearly"]["note"]  # three weeks only
        days = backtest_days(body)
        assert body["accuracy"]["days"] == days and body["accuracy"]["intervals"] == days * 48
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
        assert f"accuracy on the last {days} days (n={days * 48} intervals)" in text.stdout
        assert "yearly pattern: none (needs a year" in text.stdout
        staffing_gap_fires_and_resolves(bootstrap, port)
        scorecards_match_the_tickets(bootstrap, port)
        cost_of_quality(bootstrap, port)
        calendar_entries(bootstrap, port, today, env["CXSTREAM_TOPOLOGY_DIR"])
    finally:
        stop(worker, signal.SIGTERM)


def backtest_days(plan: dict[str, object]) -> int:
    """The complete days the forecast's accuracy is measured on: 7, or 6 in the minutes after midnight UTC while
    the live partitions have not closed the day before yet (the history is complete up to ``through``)."""
    history = plan["history"]
    assert isinstance(history, dict) and history["through"] is not None
    first = datetime.fromisoformat(str(plan["intervals"][0]["start"]))  # type: ignore[index]
    return 7 if datetime.fromisoformat(history["through"]) >= first else 6


def quick_gaps(tmp_path: Path) -> Path:
    """The shipped topology with a quick clock: rounds every 2 s, gaps held 4 s, a 3-hour look-ahead (so that
    contacts are forecast in it at any hour of the day), and a change freeze over the next three days."""
    today = datetime.now(UTC).date()
    return edited_topology(tmp_path, [
        ("alerting.yaml", "alerting:\n", "alerting:\n  evaluate_every: 2s\n"),
        ("workforce.yaml", "look_ahead: 1h", "look_ahead: 3h"),
        ("workforce.yaml", "hold: 2m", "hold: 4s"),
        ("workforce.yaml", "from: 2026-12-18, to: 2027-01-04",
         f"from: {today + timedelta(days=1)}, to: {today + timedelta(days=3)}"),
    ])  # fmt: skip


def status(agent: str, state: str, at: datetime) -> bytes:
    event_id = f"acd:{agent}:{state}:{at.timestamp()}"
    return json.dumps({
        "event_id": event_id, "event_type": "AGENT_STATUS", "event_time": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "source": "acd", "source_record_id": event_id, "agent_id": agent, "team": "billing", "region": "emea",
        "site": "lis-1", "channel": "email", "operation": {"status": state},
    }).encode()  # fmt: skip


def staffing_gap_fires_and_resolves(bootstrap: str, port: int) -> None:
    """Ten billing agents log in: no gap. All go away: the billing queue has no one while contacts are forecast,
    a CRITICAL staffing gap goes to cx.escalations.workforce. They come back: it resolves."""
    agents = [f"bill-{uuid.uuid4().hex[:6]}-{i}" for i in range(10)]
    start = datetime.now(UTC)
    asyncio.run(produce(bootstrap, [status(a, "online", start) for a in agents]))
    staffed = "cxstream_queue_agents_staffed"
    eventually(lambda: total(scrape(port), staffed, queue="billing") == 10, 120, "ten billing agents on the floor")
    eventually(lambda: total(scrape(port), "cxstream_queue_projected_service_level", queue="billing") >= 0.8, 60,
               "the billing queue's service level with ten agents")  # fmt: skip

    def gaps(status: str) -> list[dict[str, object]]:
        return [b for b in breaches(bootstrap) if b["kind"] == "STAFFING_GAP" and b["status"] == status
                and b["scope"].get("queue") == "billing"]  # fmt: skip

    assert not gaps("FIRING")
    asyncio.run(produce(bootstrap, [status(a, "away", start + timedelta(seconds=1)) for a in agents]))
    [fired] = eventually(lambda: gaps("FIRING") or None, 120, "the staffing gap on cx.breaches")
    assert fired["severity"] == "CRITICAL" and fired["value"] == 0.0 and fired["threshold"] == 0.8
    assert fired["labels"]["owner"] == "workforce" and fired["n"] == WEEKS
    assert "Billing (all regions): 0 agents on the floor" in fired["summary"]
    assert total(scrape(port), staffed, queue="billing") == 0

    def escalated() -> list[dict[str, object]] | None:
        return [e for e in escalations(bootstrap, "workforce") if fired["breach_id"] in e["breach_ids"]] or None

    [escalation, *_] = eventually(escalated, 90, "the escalation on cx.escalations.workforce")
    assert escalation["receiver"] == "workforce" and escalation["severity"] == "CRITICAL"
    live = next(q["live"] for q in api(port, "/api/workforce")["queues"] if q["id"] == "billing")
    assert live["floor"] == {"staffed": 0, "agents": 10, "by_status": {"away": 10}}
    assert live["gap"]["breach_id"] == fired["breach_id"] and live["severity"] == "CRITICAL"
    shown = cxstream(["staffing", "floor", "--url", f"http://127.0.0.1:{port}", "--token", ADMIN_TOKEN], bootstrap)
    assert shown.returncode == 0, shown.stderr
    [row] = [line for line in shown.stdout.splitlines() if line.startswith("Billing (all regions)")]
    assert "0 of 10" in row and "CRITICAL since" in row and "0.00 (0.00-" in row, row
    refused = cxstream(["staffing", "floor", "--url", f"http://127.0.0.1:{port}"], bootstrap)
    assert refused.returncode != 0 and "CXSTREAM_TOKEN" in refused.stderr
    asyncio.run(produce(bootstrap, [status(a, "online", start + timedelta(seconds=2)) for a in agents]))
    [resolved] = eventually(lambda: gaps("RESOLVED") or None, 120, "the staffing gap resolved")
    assert resolved["breach_id"] == fired["breach_id"] and resolved["summary"].startswith("Staffing gap closed")


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


def scorecards_match_the_tickets(bootstrap: str, port: int) -> None:
    tag = f"sc{uuid.uuid4().hex[:6]}"
    start = datetime.now(UTC) - timedelta(hours=2)
    records, expected = ticket_records(tag, start, team="field-service")
    asyncio.run(produce(bootstrap, records))
    path = "/api/scorecards?team=field-service&period=hours&hours=8"

    rated = sum(n for _, n in expected.csat.values())

    def loaded() -> dict[str, object] | None:  # every event read: tickets, solves and ratings
        body = api(port, path)
        totals = body["team_totals"]
        done = (body["tickets"], totals["fcr"]["n"], totals["csat"]["n"]) == (expected.tickets, expected.tickets, rated)
        return body if done else None

    body = eventually(loaded, 120, "the team's tickets in the scorecard")
    assert body["attribution"] == "last_reply" and [a["agent"] for a in body["agents"]] == sorted(expected.fcr)
    for agent in body["agents"]:
        name = agent["agent"]
        assert [agent["csat"]["hits"], agent["csat"]["n"]] == expected.csat.get(name, [0, 0]), name
        assert [agent["fcr"]["hits"], agent["fcr"]["n"]] == expected.fcr[name], name
        assert [agent["reopen"]["hits"], agent["reopen"]["n"]] == expected.reopened[name], name
        assert agent["index"] == pytest.approx(100 + sum(agent["contributions"].values()), abs=0.2)
    good = sum(g for g, _ in expected.csat.values())
    assert body["team_totals"]["csat"]["raw"] == pytest.approx(good / rated, abs=1e-4)
    weak = next(a for a in body["agents"] if a["agent"] == f"{tag}-{WEAK}")
    assert weak["csat"]["raw"] < body["team_totals"]["csat"]["raw"]
    shown = cxstream(["scorecard", "--team", "field-service", "--hours", "8", "--json"], bootstrap)
    assert shown.returncode == 0, shown.stderr
    from_cli = json.loads(shown.stdout)
    assert [(a["agent"], a["csat"], a["fcr"], a["reopen"]) for a in from_cli["agents"]] == [
        (a["agent"], a["csat"], a["fcr"], a["reopen"]) for a in body["agents"]
    ]
    text = cxstream(["scorecard", "--team", "field-service", "--hours", "8"], bootstrap)
    assert text.returncode == 0 and "not ranked" in text.stdout and f"{expected.tickets} tickets" in text.stdout


def cost_of_quality(bootstrap: str, port: int) -> None:
    """The billing queue's complex tickets (billing is complex by the shipped tier rule): the trade-off curve from
    the API and from ``cxstream staffing quality``, once both have read every ticket."""
    records, expected = ticket_records(f"q{uuid.uuid4().hex[:6]}", datetime.now(UTC) - timedelta(hours=3),
                                       team="billing")  # fmt: skip
    asyncio.run(produce(bootstrap, records))
    rated = sum(n for _, n in expected.csat.values())

    def priced() -> dict[str, object] | None:
        body = api(port, "/api/workforce/billing/quality?chart=svg")
        return body if body["rated"] >= rated and body["points"] else None

    body = eventually(priced, 120, "the billing queue's cost of quality")
    assert body["tiers"] == ["complex"] and body["insufficient"] is None and body["model"] is not None
    costs = [p["monthly_cost"] for p in body["points"]]
    assert costs == sorted(costs) and len(body["bins"]) == 5
    assert sum(b["n"] for b in body["bins"]) == body["rated"]
    assert all(p["csat"]["low"] <= p["csat"]["value"] <= p["csat"]["high"] for p in body["points"])
    assert "<svg" in body["charts"]["csat"] and "EUR a month" in body["charts"]["cost"]

    def same() -> bool:  # the command reads cx.events itself: equal once both have every ticket
        shown = cxstream(["staffing", "quality", "--queue", "billing", "--json"], bootstrap)
        assert shown.returncode == 0, shown.stderr
        return bool(json.loads(shown.stdout)["points"] == api(port, "/api/workforce/billing/quality")["points"])

    eventually(same, 120, "the command and the API to agree", interval=2)
    text = cxstream(["staffing", "quality", "--queue", "billing"], bootstrap)
    assert text.returncode == 0 and "rated tickets" in text.stdout and "EUR a month" in text.stdout, text.stdout


def calendar_entries(bootstrap: str, port: int, today: object, topologies: str) -> None:
    """A training taking every EMEA chat agent tomorrow morning: checked, published, listed with the same verdict,
    cancelled; a system change inside the freeze (declared in the worker's topology, given to the command too):
    refused, not published."""

    def cxstream(args: list[str], bootstrap: str) -> subprocess.CompletedProcess[str]:
        env = {"CXSTREAM_KAFKA_BOOTSTRAP": bootstrap, "CXSTREAM_TOPOLOGY_DIR": topologies, "PATH": "/usr/bin:/bin"}
        return subprocess.run([sys.executable, "-m", "cxstream.cli", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600, check=False)  # fmt: skip

    tomorrow = f"{today + timedelta(days=1)}T10:00"  # type: ignore[operator]
    add = ["calendar", "add", "--kind", "training", "--title", "Chat tooling", "--queue", "emea-chat", "--agents", "50"]
    added = cxstream([*add, "--start", tomorrow, "--duration", "2h", "--author", "l.moreau"], bootstrap)
    assert added.returncode == 0, added.stderr
    entry_id, summary = added.stdout.strip().split("  ", 1)
    assert "takes 50 agents from emea-chat" in summary and "with 0 of" in summary, summary

    def listed() -> list[dict[str, object]] | None:
        found = [e for e in api(port, "/api/calendar")["entries"] if e["entry_id"] == entry_id]
        return found or None

    [shown] = eventually(listed, 60, "the entry on the API")
    assert shown["verdict"] == "below_target" and shown["summary"] == summary and shown["queues"] == ["emea-chat"]
    [impact] = shown["impacts"]  # type: ignore[misc]
    assert impact["left"] == 0 and impact["service_level"] < impact["planned_service_level"]
    refused = cxstream(["calendar", "add", "--kind", "system_change", "--title", "CRM upgrade", "--queue",
                        "billing", "--agents", "1", "--start", tomorrow, "--duration", "1h"], bootstrap)  # fmt: skip
    assert refused.returncode != 0 and "refused: overlaps the change freeze" in refused.stdout, refused.stdout
    listing = cxstream(["calendar", "list"], bootstrap)
    assert entry_id in listing.stdout and "CRM upgrade" not in listing.stdout
    assert cxstream(["calendar", "cancel", entry_id], bootstrap).returncode == 0
    eventually(lambda: listed() is None, 60, "the cancelled entry gone from the API")
