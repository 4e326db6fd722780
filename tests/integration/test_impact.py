"""A change's effect through a seasonal swing, and an audit that finds a drift, on the embedded broker: a year of
daily delivery CSAT at four sites, each with a weekly pattern and a yearly swing, is backfilled into the metric
history; one site gets a change worth +8 points as the season turns down. The worker's /api/impact recovers the
effect within the adjusted interval (difference-in-differences against the other sites, and the counterfactual
from them), while the naive pre/post is biased by the swing; the command line gives the same from the topics.
A fifth site keeps its standard for three audit periods and drifts in the fourth: the routing side's audit
raises an AUDIT_DRIFT breach to the owner, and the audit's results say why."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cxstream.kafka.embedded import free_port
from tests.integration.procs import ROOT, edited_topology, eventually, ready, spawn, stop
from tests.integration.test_breaches import breaches
from tests.integration.test_metrics import ADMIN_TOKEN, worker_env
from tests.integration.test_warroom import call

EFFECT = 8.0  # points


def year(tag: str, sites: list[str], rollout: date, first: date, days: int, drifting: str = "",
         drift_from: date | None = None) -> list[bytes]:  # fmt: skip
    rng, other = random.Random(9), random.Random(10)  # the audited site draws apart: the four sites' noise is fixed
    lines = []
    for i in range(days):
        day = first + timedelta(days=i)
        weekly = [0.0, 0.01, 0.01, 0.0, -0.01, -0.03, -0.02][day.weekday()]
        yearly = 0.08 * math.sin(2 * math.pi * ((rollout - day).days - 20) / 365)  # falling through the rollout
        for k, site in enumerate([*sites, *([drifting] if drifting else [])]):
            share = 0.72 + 0.02 * k + weekly + yearly + (EFFECT / 100 if k == 0 and day >= rollout else 0.0)
            if site == drifting:  # steady at its standard, then a fall
                share = 0.65 if drift_from is not None and day >= drift_from else 0.85
            for j in range(150):
                at = datetime(day.year, day.month, day.day, 8, tzinfo=UTC) + timedelta(minutes=3 * j)
                lines.append(json.dumps({
                    "event_id": f"imp-{tag}-{site}-{i}-{j}", "event_type": "SURVEY_RESPONSE",
                    "event_time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "customer_id": f"C-{tag}-{j}",
                    "region": "emea", "site": site, "team": "logistics", "journey_stage": "delivery",
                    "touchpoint": "delivery", "channel": "email",
                    "survey": {"metric": "CSAT", "score": 5 if (other if site == drifting else rng).random() < share
                               else 2, "scale_min": 1,
                               "scale_max": 5},
                }).encode())  # fmt: skip
    return lines


def test_a_change_is_recovered_through_a_seasonal_swing_that_biases_the_naive_estimate(
    bootstrap: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    sites = [f"imp{tag}-{k}" for k in range(4)]
    today = datetime.now(UTC).date()
    rollout = today - timedelta(days=30)
    first = today - timedelta(days=366)
    audited, audit_start = f"imp{tag}-audited", today - timedelta(days=113)  # four 28-day periods, all closed
    path = tmp_path / "year.jsonl"
    path.write_bytes(b"\n".join(year(tag, sites, rollout, first, 365, audited, audit_start + timedelta(days=84)))
                     + b"\n")  # fmt: skip
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-impact-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    directory = edited_topology(tmp_path, [])
    (directory / "audits.yaml").write_text(
        f"audits:\n  audits:\n    - id: audit-{tag}\n      standard: Carrier handover v3\n      owner: logistics\n"
        f"      metric: csat.delivery\n      scopes: [{{site: {audited}}}]\n      starts: {audit_start}\n"
        "      cadence: 28d\n      duration: 365d\n"
    )
    env["CXSTREAM_TOPOLOGY_DIR"] = str(directory)
    cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}, **env}
    cxstream = [sys.executable, "-m", "cxstream.cli"]
    applied = subprocess.run([*cxstream, "topics", "apply"], cwd=ROOT, env=cli_env, capture_output=True, text=True,
                             timeout=120)  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    loaded = subprocess.run([*cxstream, "import", "--history", "--source", "canonical", str(path)], cwd=ROOT,
                            env=cli_env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        controls = "".join(f"&control=site:{s}" for s in sites[1:])
        query = f"/api/impact?metric=csat.delivery&scope=site:{sites[0]}&rollout={rollout}{controls}&chart=svg"

        def answered() -> dict[str, object] | None:
            status, body = call(port, query, ADMIN_TOKEN)
            return body if status == 200 and body.get("adjusted") else None

        body = eventually(answered, 120, "the impact estimate")
        naive, did, adjusted = body["unadjusted"], body["did"], body["adjusted"]
        assert not naive["low"] <= EFFECT <= naive["high"], naive  # the seasonal swing biases it
        assert did["low"] <= EFFECT <= did["high"], did
        assert adjusted["method"].startswith("counterfactual") and adjusted["low"] <= EFFECT <= adjusted["high"]
        assert body["parallel_trends"]["holds"], body["parallel_trends"]
        assert not body["controls_matched"] and len(body["forecast"]) == 28
        assert "rolled out" in body["chart"] and "forecast without the change" in body["chart"]
        shown = subprocess.run([*cxstream, "impact", "change", "--metric", "csat.delivery", "--scope",
                                f"site:{sites[0]}", "--rollout", str(rollout), *[a for s in sites[1:] for a in
                                ("--control", f"site:{s}")], "--json"], cwd=ROOT, env=cli_env, capture_output=True,
                               text=True, timeout=120)  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["adjusted"] == adjusted

        def drifts() -> list[dict[str, Any]]:
            return [b for b in breaches(bootstrap) if b["kind"] == "AUDIT_DRIFT" and b["scope"].get("site") == audited]

        [drift] = eventually(drifts, 120, "the audit's drift")
        assert drift["status"] == "FIRING" and drift["labels"]["owner"] == "logistics", drift
        assert drift["summary"].startswith(f"Audit drift: {audited}'s CSAT fell from 85.")
        assert "Carrier handover v3" in drift["summary"]
        _, audits = call(port, "/api/audits", ADMIN_TOKEN)
        [audit] = [a for a in audits["audits"] if a["id"] == f"audit-{tag}"]
        assert [r["verdict"] for r in audit["results"]] == ["reference", "holds", "holds", "drift"], audit
        assert audit["drifts"] == 1
        judged = subprocess.run([*cxstream, "impact", "audits", "--audit", f"audit-{tag}", "--json"], cwd=ROOT,
                                env=cli_env, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert judged.returncode == 1 and json.loads(judged.stdout)[0]["drifts"] == 1, judged.stderr
        # the treated site's last 12 closed weeks: the trend with its interval and a verdict
        status, flat = call(port, f"/api/plateaus?metric=csat.delivery&scope=site:{sites[0]}", ADMIN_TOKEN)
        assert status == 200 and len(flat["weeks"]) == 12 and flat["verdict"] in ("moving", "flat"), flat
        assert flat["slope_per_week"] is not None and flat["low"] <= flat["slope_per_week"] <= flat["high"]

        # a capability change at the treated site proposes what two peers reach over the last 28 days; accepted
        peers = sites[1:3]
        window = {str(today - timedelta(days=d)) for d in range(1, 29)}
        rows = [json.loads(line) for line in path.read_bytes().splitlines()]
        picked = [r for r in rows if r["site"] in peers and r["event_time"][:10] in window]
        expected = sum(r["survey"]["score"] == 5 for r in picked) / len(picked)  # by hand, from the file
        capability = [
            *cxstream,
            "targets",
            "capability",
            "--metric",
            "csat.delivery",
            "--scope",
            f"site:{sites[0]}",
            "--title",
            "automated rebooking",
            *[a for p in peers for a in ("--peer", f"site:{p}")],
        ]
        proposed = subprocess.run(capability, cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=120)
        assert proposed.returncode == 0, proposed.stderr
        proposal = json.loads(proposed.stdout)
        assert proposal["state"] == "PROPOSED" and proposal["value"] == round(100 * round(expected, 4), 2), proposal
        assert f"n={len(picked):,}" in proposal["evidence"]
        accept = [*cxstream, "targets", "accept", proposal["target_id"], str(proposal["version"])]
        assert subprocess.run(accept, cwd=ROOT, env=cli_env, capture_output=True, timeout=120).returncode == 0

        def in_force() -> dict[str, Any] | None:
            listed = call(port, "/api/targets", ADMIN_TOKEN)[1]["targets"]
            found = next((t for t in listed if t["target_id"] == proposal["target_id"]), None)
            return found if found and found["current"] else None

        target = eventually(in_force, 60, "the accepted target")
        # the review pack of the treated site for the last 28 days, written by the command line
        out = tmp_path / "review.html"
        period = f"{today - timedelta(days=28)}..{today - timedelta(days=1)}"
        command = [*cxstream, "review", "--scope", f"site:{sites[0]}", "--period", period, "--out", str(out)]
        made = subprocess.run(command, cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=180)
        assert made.returncode == 0, made.stderr
        html = out.read_text()
        assert f"CX review: site {sites[0]}" in html and "Delivery CSAT" in html and "<script" not in html
        assert "automated rebooking" in html  # the target in force, accepted above
        assert target["current"]["value"] == proposal["value"] and target["current"]["capability"] == "automated " \
            "rebooking"  # fmt: skip
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0
