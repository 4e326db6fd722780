"""A real fall in a metric becomes a breach on cx.breaches and an escalation on its team's topic, read by a
client that is not cxstream; a worker killed and restarted does not open it again. A single angry detractor
is a hot alert at once; nobody acknowledging it makes it climb the ladder, across a restart, until someone
takes the case; a silence keeps a matching alert from paging anyone."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from cxstream.domain.catalog import Internal
from cxstream.kafka.embedded import free_port
from tests.integration.foreign import SingleObjectReader, consume_all
from tests.integration.procs import CXSTREAM, ROOT, edited_topology, eventually, ready, spawn, stop
from tests.integration.test_ingest import scrape, total
from tests.integration.test_metrics import iso, worker_env

pytestmark = pytest.mark.integration
READER = SingleObjectReader(ROOT / "schemas/Breach.avsc")
ESCALATIONS = SingleObjectReader(ROOT / "schemas/Escalation.avsc")
CASES = SingleObjectReader(ROOT / "schemas/Case.avsc")


def answers(region: str, site: str, scores: list[int], tag: str) -> list[bytes]:
    when = datetime.now(UTC) - timedelta(minutes=20)
    return [
        json.dumps({
            "event_id": f"{tag}-{region}-{i}", "event_type": "SURVEY_RESPONSE", "event_time": iso(when),
            "customer_id": f"C-{i}", "region": region, "site": site, "team": "logistics",
            "journey_stage": "delivery", "touchpoint": "delivery", "channel": "email",
            "survey": {"metric": "CSAT", "score": score, "scale_min": 1, "scale_max": 5},
        }).encode()
        for i, score in enumerate(scores)
    ]  # fmt: skip


async def produce(bootstrap: str, records: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait("cx.raw.canonical", record, key=json.loads(record)["event_id"].encode())
    finally:
        await producer.stop()


def breaches(bootstrap: str) -> list[dict[str, Any]]:
    return [READER.decode(m.value()) for m in consume_all(bootstrap, "cx.breaches", idle_polls=2)]


def escalations(bootstrap: str, team: str) -> list[dict[str, Any]]:
    return [ESCALATIONS.decode(m.value()) for m in consume_all(bootstrap, f"cx.escalations.{team}", idle_polls=2)]


def test_a_falling_metric_raises_one_breach_and_one_escalation_across_a_restart(bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-breach-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    worker = spawn(["worker"], env, tmp_path / "worker-1.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        tag = uuid.uuid4().hex[:6]
        # EMEA: 120 answers, 10 % satisfied (critical is 55 %); AMER: 120 answers, 90 % satisfied
        asyncio.run(produce(bootstrap, answers("emea", "ams-1", [5] * 12 + [1] * 108, tag)
                            + answers("amer", "chi-1", [5] * 108 + [2] * 12, tag)))  # fmt: skip

        def firing() -> list[dict[str, Any]] | None:
            found = [b for b in breaches(bootstrap) if b["status"] == "FIRING"]
            return found or None

        [breach] = eventually(firing, 180, "a FIRING breach on cx.breaches")
        assert breach["rule_id"] == "csat.delivery.low" and breach["severity"] == "CRITICAL"
        assert breach["scope"] == {"region": "emea"} and breach["n"] == 120
        assert breach["labels"]["owner"] == "logistics"
        assert breach["value"] == pytest.approx(10.0) and breach["interval_high"] < 55
        assert "cusum: evidence of 55" in breach["summary"]
        # what the rule costs at the volumes it sees, for SREs and `cxstream alerts budget --observed`
        assert total(scrape(port), "cxstream_expected_false_breaches_per_day", rule="csat.delivery.low") > 0
        budget = cli(env, "alerts", "budget", "--observed", f"http://127.0.0.1:{port}/metrics")
        assert "observed volumes: per 30 d" in budget and "csat.delivery.low" in budget

        # the owner's team gets it at once (critical logistics route: group_wait 0s); nobody else does
        [escalation] = eventually(lambda: escalations(bootstrap, "logistics") or None, 60, "the escalation")
        assert escalation["breach_ids"] == [breach["breach_id"]] and escalation["severity"] == "CRITICAL"
        assert escalation["labels"]["status"] == "firing" and "emea" in escalation["summary"]
        others = [e for team in ("customer-service", "cx-operations") for e in escalations(bootstrap, team)]
        assert not [e for e in others if breach["breach_id"] in e["breach_ids"]]

        stop(worker, signal.SIGKILL)
        # restarted with rounds every 2 s instead of 15 (only the clock differs: the state is the dead worker's)
        quick = edited_topology(tmp_path, [("alerting.yaml", "alerting:\n", "alerting:\n  evaluate_every: 2s\n")])
        worker = spawn(["worker"], {**env, "CXSTREAM_TOPOLOGY_DIR": str(quick)}, tmp_path / "worker-2.log")
        eventually(lambda: worker.poll() is None and ready(port), 240, "the restarted worker to be ready")
        eventually(lambda: total(scrape(port), "cxstream_breach_evaluations_total", outcome="done") >= 3, 120,
                   "three evaluation rounds after the restart")  # fmt: skip
        after = breaches(bootstrap)
        assert {b["breach_id"] for b in after if b["status"] == "FIRING"} == {breach["breach_id"]}
        assert not [b for b in after if b["status"] == "RESOLVED"]
        # neither lost nor sent again as a new one: a re-send after the crash would carry the same id
        assert {e["escalation_id"] for e in escalations(bootstrap, "logistics")} == {escalation["escalation_id"]}
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0


def fast_ladders(tmp_path: Path) -> Path:
    """The shipped topology with a quick clock: rounds every 2 s, the critical ladder at 10 s, 25 s, 20 s."""
    return edited_topology(tmp_path, [
        ("alerting.yaml", "alerting:\n", "alerting:\n  evaluate_every: 2s\n"),
        ("alerting.yaml", "{after: 15m, notify: team-lead}", "{after: 10s, notify: team-lead}"),
        ("alerting.yaml", "{after: 30m, notify: ops-manager}", "{after: 25s, notify: ops-manager}"),
        ("alerting.yaml", "{after: 1h, notify: director, receiver: cx-operations}", "{after: 20s, notify: director}"),
    ])  # fmt: skip


def detractor(event_id: str, verbatim: str, customer: str = "C-77") -> bytes:
    return json.dumps({
        "event_id": event_id, "event_type": "SURVEY_RESPONSE", "event_time": iso(datetime.now(UTC)),
        "customer_id": customer, "region": "emea", "site": "ams-1", "team": "cx-operations",
        "journey_stage": "relationship", "channel": "email",
        "survey": {"metric": "NPS", "score": 1, "scale_min": 0, "scale_max": 10, "verbatim": verbatim},
    }).encode()  # fmt: skip


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*CXSTREAM, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_hot_alert_climbs_its_ladder_across_a_restart_until_acknowledged_and_silences_mute(
    bootstrap: str, tmp_path: Path
) -> None:
    import os

    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-hot-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    env["CXSTREAM_TOPOLOGY_DIR"] = str(fast_ladders(tmp_path))
    cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}, **env}
    worker = spawn(["worker"], env, tmp_path / "worker-1.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        event_id = f"hot-{uuid.uuid4().hex[:8]}"
        asyncio.run(produce(bootstrap, [detractor(event_id, "Third late parcel. I am cancelling my account.")]))

        def mine() -> list[dict[str, Any]]:
            return [b for b in breaches(bootstrap) if event_id in b["event_ids"]]

        [hot] = eventually(mine, 120, "the hot alert on cx.breaches")
        assert (hot["kind"], hot["status"], hot["severity"]) == ("HOT_ALERT", "FIRING", "CRITICAL")
        assert hot["rule_id"] == "detractor.critical-driver" and hot["n"] == 1 and hot["value"] == 1.0
        assert "churn_risk" in hot["labels"]["drivers"].split(",") and hot["labels"]["owner"] == "cx-operations"

        def ladder() -> dict[int, set[str]]:
            steps: dict[int, set[str]] = {}
            for e in escalations(bootstrap, "cx-operations"):
                if hot["breach_id"] in e["breach_ids"]:
                    steps.setdefault(e["level"], set()).add(e["escalation_id"])
            return steps

        eventually(lambda: 1 in ladder(), 90, "the team lead to be paged (level 1)")
        [first] = [e for e in escalations(bootstrap, "cx-operations") if hot["breach_id"] in e["breach_ids"]][:1]
        assert first["level"] == 0 and first["first_event_time"] is not None and "cancelling" in first["summary"]
        # the rules were tried once, where the event was made (the events agent skips records that say so): one
        # alert raised, none the desk had to drop as already known
        samples = scrape(port)
        assert total(samples, "cxstream_hot_alerts_total", rule="detractor.critical-driver", outcome="raised") == 1
        assert total(samples, "cxstream_duplicates_total", topic=Internal.ALERTING_CONTROL) == 0

        stop(worker, signal.SIGKILL)
        worker = spawn(["worker"], env, tmp_path / "worker-2.log")
        eventually(lambda: worker.poll() is None and ready(port), 240, "the restarted worker to be ready")
        eventually(lambda: 2 in ladder(), 120, "the ops manager to be paged (level 2) after the restart")
        out = cli(cli_env, "cases", "ack", hot["breach_id"], "--author", "j.devries", "--comment", "calling back")
        assert "acknowledged by j.devries" in out
        eventually(lambda: total(scrape(port), "cxstream_alerting_inputs_total", kind="ack", outcome="done") >= 1,
                   60, "the acknowledgement to reach the routing side")  # fmt: skip

        def case_states() -> list[str]:  # the escalation opened the breach's case; the acknowledgement moved it
            found = [CASES.decode(m.value()) for m in consume_all(bootstrap, "cx.cases", idle_polls=2)]
            return [c["state"] for c in found if c["breach_id"] == hot["breach_id"]]

        states = eventually(lambda: (s := case_states()) and s[-1] == "ACKNOWLEDGED" and s, 60, "the case")
        assert states[0] == "OPEN" and states.count("ACKNOWLEDGED") == 1
        rounds = total(scrape(port), "cxstream_alerting_inputs_total", kind="tick", outcome="done")
        eventually(lambda: total(scrape(port), "cxstream_alerting_inputs_total", kind="tick", outcome="done")
                   >= rounds + 15, 90, "30 more seconds of rounds, past the director's 20 s")  # fmt: skip
        steps = ladder()
        assert sorted(steps) == [0, 1, 2], steps  # the director was never paged: someone took the case
        assert all(len(ids) == 1 for ids in steps.values()), steps  # nothing sent twice across the crash

        # a silence on the rule: the next such detractor is a breach, but pages nobody
        out = cli(cli_env, "silence", "add", "rule=detractor.critical-driver", "region=emea", "--duration", "1h",
                  "--author", "m.jansen", "--comment", "known: carrier strike, INC-4411")  # fmt: skip
        silence_id = out.split()[0]
        assert silence_id.startswith("sil-") and silence_id in cli(cli_env, "silence", "list")
        eventually(lambda: total(scrape(port), "cxstream_alerting_inputs_total", kind="silence", outcome="done") >= 1,
                   60, "the silence to reach the routing side")  # fmt: skip
        muted_id = f"hot-{uuid.uuid4().hex[:8]}"
        asyncio.run(produce(bootstrap, [detractor(muted_id, "My lawyer will hear about this.")]))
        [muted] = eventually(lambda: [b for b in breaches(bootstrap) if muted_id in b["event_ids"]], 120, "breach")
        rounds = total(scrape(port), "cxstream_alerting_inputs_total", kind="tick", outcome="done")
        eventually(lambda: total(scrape(port), "cxstream_alerting_inputs_total", kind="tick", outcome="done")
                   >= rounds + 3, 60, "a few more rounds")  # fmt: skip
        every = [e for t in ("cx-operations", "customer-service") for e in escalations(bootstrap, t)]
        assert not [e for e in every if muted["breach_id"] in e["breach_ids"]]
        assert "expired" in cli(cli_env, "silence", "expire", silence_id, "--author", "m.jansen")
        assert silence_id not in cli(cli_env, "silence", "list")
        assert "expired" in cli(cli_env, "silence", "list", "--all")
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0
