"""Variance across locations on the embedded broker: two weeks of delivery CSAT at twenty-odd sites are imported into
metric history; one small site is planted worse on its last days, one large site sits at the mean with more
day-to-day spread than its n explains. The routing side reviews the last final day: the small site is an
execution gap, a breach routed to its owner's topic, and the large one is not; the API's funnel and control chart
say the same with their numbers."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cxstream.domain.locations.gaps import day_to_review
from cxstream.domain.metrics.spec import DAY_MS
from cxstream.kafka.embedded import free_port
from tests.integration.foreign import consume_all
from tests.integration.procs import ROOT, edited_topology, eventually, ready, spawn, stop
from tests.integration.test_breaches import breaches, escalations
from tests.integration.test_ingest import DLQ
from tests.integration.test_metrics import ADMIN_TOKEN, worker_env
from tests.integration.test_warroom import INGEST_TOKEN, JSON, call

SITES = [f"t{i:02d}" for i in range(20)] + ["small-1", "big-1"]
GRACE_MS = 6 * 3600 * 1000


def topology(tmp_path: Path) -> Path:
    added = "".join(f"    - {{id: {s}, region: emea, name: Test site {s}}}\n" for s in SITES)
    directory = edited_topology(tmp_path, [
        ("reference.yaml", "    - {id: ams-1, region: emea, name: Amsterdam fulfilment centre}\n",
         "    - {id: ams-1, region: emea, name: Amsterdam fulfilment centre}\n" + added),
    ])  # fmt: skip
    located = "".join(f"    - {{site: {s}, type: fulfilment, owner: logistics}}\n" for s in SITES)
    (directory / "locations.yaml").write_text(
        "locations:\n  sites:\n" + located + "  variance:\n    metrics: [csat.delivery]\n    min_n: 30\n"
        "    chart_days: 14\n    rules: [1, 2]\n"
    )
    return directory


WAVE_1, WAVE_2 = SITES[:5], SITES[5:10]


def playbook(reviewed: int) -> str:
    """A playbook rolled out in two waves: the first to t00-t04 nine days before the reviewed day, the second to
    t05-t09 five days before it."""
    first = datetime.fromtimestamp((reviewed - 9 * DAY_MS) / 1000, UTC).date()
    second = datetime.fromtimestamp((reviewed - 5 * DAY_MS) / 1000, UTC).date()
    return (
        "playbooks:\n  compare_days: 5\n  playbooks:\n    - id: handover\n      display: Carrier handover\n"
        "      version: '2'\n      owner: logistics\n      metrics: [csat.delivery]\n"
        "      steps:\n        - {id: check, text: Check the labels at the dock}\n"
        f"      waves:\n        - {{id: wave-1, version: '2', sites: [{', '.join(WAVE_1)}], starts: {first}}}\n"
        f"        - {{id: wave-2, version: '2', sites: [{', '.join(WAVE_2)}], starts: {second}}}\n"
    )


def answers(days: int, reviewed: int) -> list[bytes]:
    """Delivery CSAT per site and day for ``days`` days up to the reviewed day; small-1 much worse on its last
    three days, big-1 large with a share that drifts from day to day."""
    rng = random.Random(17)
    lines = []
    for d in range(days):
        start = reviewed - (days - 1 - d) * DAY_MS
        for site in SITES:
            n, share = 120, 0.8
            if site == "big-1":
                n, share = 1500, min(0.95, max(0.6, rng.gauss(0.8, 0.03)))
            if site == "small-1" and d >= days - 3:
                share = 0.45
            if site in WAVE_1 and d >= days - 10:  # the first wave works where it started
                share = 0.9
            for i in range(n):
                when = datetime.fromtimestamp((start + rng.randint(0, DAY_MS - 1000)) / 1000, UTC)
                score = rng.choice((4, 5)) if rng.random() < share else rng.choice((1, 2))
                lines.append(json.dumps({
                    "event_id": f"loc-{site}-{d}-{i}", "event_type": "SURVEY_RESPONSE",
                    "event_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "customer_id": f"C-{site}-{i}",
                    "region": "emea", "site": site, "team": "logistics", "journey_stage": "delivery",
                    "touchpoint": "delivery", "channel": "email",
                    "survey": {"metric": "CSAT", "score": score, "scale_min": 1, "scale_max": 5},
                }).encode())  # fmt: skip
    return lines


def test_a_worse_small_site_is_an_execution_gap_and_a_big_noisy_one_is_not(bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-sites-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    directory = topology(tmp_path)
    env["CXSTREAM_TOPOLOGY_DIR"] = str(directory)
    env["CXSTREAM_INGEST_TOKEN"] = INGEST_TOKEN
    env["CXSTREAM_API_TOKENS"] = json.dumps([{"name": "test-admin", "role": "admin", "token": ADMIN_TOKEN}] + [
        {"name": name, "role": "supervisor", "token": f"tok-{name}"} for name in ("a.okafor", "m.jansen", "l.moreau")
    ])  # fmt: skip
    cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}, **env}
    reviewed = day_to_review(int(datetime.now(UTC).timestamp() * 1000), GRACE_MS)
    (directory / "playbooks.yaml").write_text(playbook(reviewed))
    path = tmp_path / "csat.jsonl"
    path.write_bytes(b"\n".join(answers(14, reviewed)) + b"\n")
    cxstream = [sys.executable, "-m", "cxstream.cli"]
    applied = subprocess.run([*cxstream, "topics", "apply"], cwd=ROOT, env=cli_env, capture_output=True, text=True,
                             timeout=120)  # fmt: skip
    assert applied.returncode == 0, applied.stderr  # before the import: a producer would create them otherwise
    command = [*cxstream, "import", "--history", "--source", "canonical", str(path)]
    loaded = subprocess.run(command, cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=600)
    assert loaded.returncode == 0, loaded.stderr
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")

        def gaps() -> list[dict[str, Any]]:
            return [b for b in breaches(bootstrap) if b["kind"] == "EXECUTION_GAP"]

        found = eventually(gaps, 120, "the review of the last final day")
        assert {b["scope"]["site"] for b in found} == {"small-1"}, [b["summary"] for b in found]
        [gap] = found
        assert gap["status"] == "FIRING" and gap["labels"]["owner"] == "logistics" and gap["n"] == 120
        assert gap["summary"].startswith("Execution gap: Test site small-1: Delivery CSAT (CSAT) ")
        assert "below the 99.8% funnel limit" in gap["summary"]

        def escalated() -> list[dict[str, Any]]:
            return [e for e in escalations(bootstrap, "logistics") if gap["breach_id"] in e["breach_ids"]]

        eventually(escalated, 60, "the escalation to logistics")

        day = datetime.fromtimestamp(reviewed / 1000, UTC).date().isoformat()
        status, funnel = call(port, f"/api/sites/funnel?metric=csat.delivery&day={day}&chart=svg", ADMIN_TOKEN)
        assert status == 200, funnel
        bands = {s["site"]: s["band"] for s in funnel["sites"]}
        assert bands["small-1"] == "alarm" and bands["big-1"] != "alarm", bands
        assert funnel["locations_compared"] == len(SITES) and funnel["tau"] is not None
        assert 'data-site="Test site small-1" data-band="alarm"' in funnel["chart"]
        status, chart = call(port, f"/api/sites/small-1/chart?metric=csat.delivery&day={day}", ADMIN_TOKEN)
        assert status == 200 and any(f["rule"] == 1 for f in chart["firings"]), chart
        status, big = call(port, f"/api/sites/big-1/chart?metric=csat.delivery&day={day}", ADMIN_TOKEN)
        assert status == 200 and big["sigma_z"] > 1 and not [f for f in big["firings"] if f["rule"] == 1]
        status, listed = call(port, "/api/sites", ADMIN_TOKEN)
        assert listed["noise"]["comparisons_per_day"] == len(SITES)

        # the playbook's two waves: the first moved its sites, the second did not; the spread says so
        status, rolled = call(port, "/api/playbooks/handover", ADMIN_TOKEN)
        assert status == 200 and rolled["waves"] is not None, rolled
        first, second = rolled["waves"]
        assert first["wave"] == "wave-1" and first["pooled_low"] > 0 and first["improved"] >= 4, first
        assert first["compared"] == 5 and "sites improved" in first["summary"]
        assert abs(second["pooled"]) < 3 < first["pooled"], second  # no change at the second wave's sites
        status, runs = call(port, "/api/playbooks", ADMIN_TOKEN)
        versions = next(p for p in runs["playbooks"] if p["id"] == "handover")["sites"]
        assert versions["t00"] == "2" and versions["t07"] == "2" and versions["t15"] is None

        # the board decides to roll the playbook out further: quorum three, majority; no verified effect cited
        proposal = {
            "committee": "scaling-board",
            "kind": "rollout",
            "title": "Carrier handover to all EMEA sites",
            "waves": ["handover/wave-1", "handover/wave-2"],
            "note": first["summary"],
            "cost_weeks": 6,
        }
        status, opened = call(port, "/api/governance", "tok-a.okafor", proposal)
        assert status == 202 and opened["verified_effect"] is False, opened
        actions = f"/api/governance/{opened['proposal_id']}/actions"
        eventually(lambda: call(port, f"/api/governance/{opened['proposal_id']}", ADMIN_TOKEN)[0] == 200, 30,
                   "the proposal")  # fmt: skip
        assert call(port, actions, ADMIN_TOKEN, {"action": "VOTE", "vote": "yes"})[0] == 409  # not a member
        for name, vote in (("a.okafor", "yes"), ("m.jansen", "no"), ("l.moreau", "yes")):
            assert call(port, actions, f"tok-{name}", {"action": "VOTE", "vote": vote})[0] == 202
            eventually(lambda n=name: n in call(port, f"/api/governance/{opened['proposal_id']}", ADMIN_TOKEN)[1]
                       ["votes"], 30, "the vote")  # fmt: skip
        decided = call(port, f"/api/governance/{opened['proposal_id']}", ADMIN_TOKEN)[1]
        assert decided["state"] == "APPROVED" and decided["votes"] == {"a.okafor": "yes", "m.jansen": "no",
                                                                        "l.moreau": "yes"}, decided  # fmt: skip
        assert [t["kind"] for t in decided["trail"]] == ["PROPOSE", "VOTE", "VOTE", "VOTE"]
        partner_feedback(bootstrap, port)
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0
    # the day is reviewed once, however many ticks passed (the table keeps the day reviewed)
    assert len([b for b in breaches(bootstrap) if b["kind"] == "EXECUTION_GAP"]) == 1


def partner_feedback(bootstrap: str, port: int) -> None:
    """Partners' feedback through the webhook: three reports on the handover's check step from two partners make
    a revision due, which opens a remediation item and a proposal before the board; a report from a partner that
    is not declared lands on the dead-letter topic with its reason and its bytes."""
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = uuid.uuid4().hex[:8]

    def report(n: int, partner: str, site: str | None, severity: str, suggestion: str | None) -> dict[str, Any]:
        return {"feedback_id": f"it-{run}-{n}", "partner": partner, "site": site, "playbook": "handover",
                "version": "2", "step": "check", "issue": f"Labels are checked after the carrier has left ({n})",
                "suggestion": suggestion, "severity": severity, "submitted_at": at}  # fmt: skip

    first = report(1, "swiftline", "ams-1", "medium", "Check the labels before the 14:00 pick-up")
    assert call(port, "/ingest/partners", INGEST_TOKEN, first, "POST", JSON)[0] == 202
    eventually(lambda: call(port, "/api/partner-feedback", ADMIN_TOKEN)[1]["reports"] == 1, 60, "the first report")
    status, seen = call(port, "/api/partner-feedback?playbook=handover", ADMIN_TOKEN)
    [step] = seen["steps"]
    assert status == 200 and step["step"] == "check" and step["counted"] == 1 and not step["revision_due"], step
    assert step["why"] == "1 of 3 reports from 1 of 2 partners within 90d" and step["proposal"] is None
    stranger = report(9, "acme-logistics", "ams-1", "high", None)
    batch = [report(2, "swiftline", "chi-1", "high", None), report(3, "manila-cx", None, "low", "Scan at the dock"),
             stranger]  # fmt: skip
    assert call(port, "/ingest/partners", INGEST_TOKEN, json.dumps(batch).encode(), "POST", JSON)[0] == 202

    def opened() -> dict[str, Any] | None:
        steps = call(port, "/api/partner-feedback?playbook=handover&chart=svg", ADMIN_TOKEN)[1]
        found = steps["steps"][0] if steps["steps"] else {}
        return steps if found.get("proposal") and found.get("remediation_item") else None

    body = eventually(opened, 120, "the revision proposed from partner feedback")
    [step] = body["steps"]
    assert step["revision_due"] and step["counted"] == 3 and step["partners"] == ["manila-cx", "swiftline"], step
    assert step["sites"] == ["ams-1", "chi-1", "mnl-1"] and step["severities"] == {"medium": 1, "high": 1, "low": 1}
    assert step["remediation_item"]["state"] == "PROPOSED" and step["proposal"]["state"] == "OPEN"
    assert "n=3 from 2 partners, 3 sites" in body["chart"]
    assert "Carrier handover / check - revision due" in body["chart"]
    status, proposal = call(port, f"/api/governance/{step['proposal']['id']}", ADMIN_TOKEN)
    assert status == 200 and proposal["kind"] == "playbook_revision" and proposal["verified_effect"] is False
    assert proposal["evidence"]["items"] == [step["remediation_item"]["id"]]
    assert "3 reports on version 2 from 2 partners" in proposal["evidence"]["note"], proposal
    assert "manila-cx: Scan at the dock" in proposal["evidence"]["note"]

    def dead() -> list[dict[str, Any]]:
        letters = [DLQ.decode(m.value()) for m in consume_all(bootstrap, "cx.dlq", idle_polls=2)]
        return [d for d in letters if d["source_topic"] == "cx.raw.partners" and f"it-{run}-9".encode()
                in d["original_value"]]  # fmt: skip

    [letter] = eventually(dead, 60, "the stranger's report on cx.dlq")
    assert letter["reasons"][0]["rule_id"] == "mapping.partner", letter["reasons"]
    assert json.loads(letter["original_value"]) == stranger
