"""Any worker answers for every partition: with two workers sharing the partitions, each one reads a metric over
all of them (merging the other's cells), lists every case, serves and acts on a case the other holds, answers
breaches from the routing desk's worker, and shows the same war room. When one dies, the other's answers say
they are partial until it holds every partition itself, and then they are whole again."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from cxstream.kafka.embedded import free_port
from tests.integration.procs import eventually, http_get, ready, spawn, stop
from tests.integration.test_breaches import breaches, produce
from tests.integration.test_metrics import ADMIN_TOKEN, worker_env
from tests.integration.test_warroom import call, complaint

pytestmark = pytest.mark.integration

VIEWER = "tok-wall-emea-2f1c"
SITES = {"emea": "ams-1", "amer": "chi-1", "apac": "sin-1"}
NPS = "/api/metrics/nps.relationship/1d"


def nps(port: int, query: str = "", token: str = ADMIN_TOKEN) -> dict[str, Any]:
    status, body = call(port, f"{NPS}{query}", token)
    assert status == 200, body
    return dict(body)


def test_either_of_two_workers_answers_for_every_partition(bootstrap: str, tmp_path: Path) -> None:
    app_id = f"cxstream-two-{uuid.uuid4().hex[:8]}"
    ports = [free_port(), free_port()]
    envs = [worker_env(bootstrap, port, app_id, tmp_path / f"data-{i}") for i, port in enumerate(ports)]
    for env in envs:
        tokens = json.loads(env["CXSTREAM_API_TOKENS"])
        env["CXSTREAM_API_TOKENS"] = json.dumps([*tokens, {"name": "wall-emea", "role": "viewer",
                                                           "regions": ["emea"], "token": VIEWER}])  # fmt: skip
    workers = [spawn(["worker"], env, tmp_path / f"worker-{i}.log") for i, env in enumerate(envs)]
    try:
        for worker, port in zip(workers, ports, strict=True):
            eventually(lambda w=worker, p=port: w.poll() is None and ready(p), 240, "both workers to be ready")
        tag = uuid.uuid4().hex[:6]
        cases: set[str] = set()
        mine: list[dict[str, Any]] = []

        def listed(port: int) -> set[str]:
            status, body = call(port, "/api/cases", ADMIN_TOKEN)
            assert status == 200, body
            assert body["workers"]["answered"] == body["workers"]["asked"], body["workers"]
            return {c["case_id"] for c in body["cases"]} & cases

        def held_by(port: int) -> set[str]:
            return {c["case_id"] for c in call(port, "/api/cases?local=1", ADMIN_TOKEN)[1]["cases"]} & cases

        # rounds of two detractors per region (each a hot alert and its case) until each worker holds a case:
        # cases spread over 3 partitions by their hashed ids, so six may all land on one worker
        for round_ in range(5):
            events = [complaint(f"two-{tag}-{round_}-{i}", f"C-{tag}-{round_}-{i}", r, SITES[r])
                      for i, r in enumerate(r for r in SITES for _ in range(2))]  # fmt: skip
            asyncio.run(produce(bootstrap, events))
            prefix = f"two-{tag}-{round_}-"
            mine += eventually(lambda p=prefix: len(b := [x for x in breaches(bootstrap) if p in x["event_ids"][0]])
                               == 6 and b, 180, "six hot alerts")  # fmt: skip
            cases = {"case-" + b["breach_id"].removeprefix("br-") for b in mine}
            for port in ports:
                eventually(lambda p=port, c=cases: listed(p) == c, 120, f"worker on {port} to list every case")
            if all(held_by(port) for port in ports):
                break
        answers = len(mine)  # NPS answers, a third per region

        # metrics: both workers answer for all six cx.events partitions, and their own parts add up to the whole
        def whole(port: int) -> bool:
            window = nps(port)
            return window["estimate"]["n"] == answers and window["partitions"]["held"] == window["partitions"]["total"]

        for port in ports:
            eventually(lambda p=port: whole(p), 120, f"worker on {port} to read every answer")
            window = nps(port)
            assert window["partitions"]["workers"] == {"answered": 2, "asked": 2}
            assert window["estimate"]["insufficient"] and window["estimate"]["value"] is None  # below minimum n
            assert nps(port, "?region=emea")["estimate"]["n"] == answers // 3
            assert nps(port, token=VIEWER)["estimate"]["n"] == answers // 3  # a viewer of one region reads that one
        parts = [nps(port, "?local=1") for port in ports]
        assert all(p["partitions"]["workers"] == {"answered": 1, "asked": 1} for p in parts)
        assert sum(p["partitions"]["held"] for p in parts) == parts[0]["partitions"]["total"]
        assert all(0 < p["partitions"]["held"] < p["partitions"]["total"] for p in parts)
        assert sum(p["estimate"]["n"] for p in parts) == answers

        def cell_regions(token: str) -> list[str]:  # what one worker gives another: cells' regions
            found = []
            for port in ports:
                status, body = call(port, "/api/peer/cells?definition=nps.relationship", token)
                assert status == 200, body
                found += [json.loads(key)[4][1] for key, _ in body["cells"]]  # scope: team, region, site, channel
            return found

        assert set(cell_regions(ADMIN_TOKEN)) == set(SITES)
        assert set(cell_regions(VIEWER)) == {"emea"}  # within the caller's scope

        # cases: listed, read and acted on through either worker
        locals_ = []
        for port in ports:
            locals_.append(held_by(port))
            for case_id in cases:  # one case at a time: answered by the worker holding it
                status, body = call(port, f"/api/cases/{case_id}", ADMIN_TOKEN)
                assert status == 200 and body["case_id"] == case_id, (port, body)
        assert locals_[0] | locals_[1] == cases and not locals_[0] & locals_[1]  # each case on one worker only
        assert locals_[0] and locals_[1]
        for case_id in cases:  # a write reaches the worker holding the case, whichever worker takes it
            status, body = call(ports[0], f"/api/cases/{case_id}/actions", ADMIN_TOKEN,
                                {"action": "COMMENT", "comment": "seen on the wall"})  # fmt: skip
            assert status == 202, (case_id, body)
        status, body = call(ports[0], "/api/cases/case-nosuchcase", ADMIN_TOKEN)
        assert status == 404, body

        # breaches and the page's snapshot: the same on both workers
        for port in ports:
            status, body = call(port, "/api/breaches", ADMIN_TOKEN)
            assert status == 200 and {b["breach_id"] for b in mine} <= {b["breach_id"] for b in body["breaches"]}
            status, room = call(port, "/api/warroom", ADMIN_TOKEN)
            assert status == 200, room
            assert cases <= {c["case_id"] for c in room["cases"]}
            assert room["coverage"]["held"] == room["coverage"]["total"] and room["coverage"]["breaches"]
            assert room["coverage"]["cases"] == {"answered": 2, "asked": 2}
            tile = next(t for t in room["tiles"] if t["region"] == "emea" and t["definition"] == "nps.relationship")
            assert tile["estimate"]["n"] == answers // 3
        assert all(w.poll() is None for w in workers)

        # one worker dies: the other's answers are whole or say they are not, and become whole again
        stop(workers[1], signal.SIGKILL)
        seen: list[dict[str, Any]] = []
        readiness: list[tuple[int, str]] = []

        def whole_alone() -> bool:
            window = nps(ports[0])
            seen.append(window["partitions"])
            status, body = http_get(f"http://127.0.0.1:{ports[0]}/readyz")
            readiness.append((status, json.loads(body)["checks"].get("partitions_answered", {}).get("detail", "")))
            covered = window["partitions"]["held"] == window["partitions"]["total"]
            assert window["estimate"]["n"] == answers if covered else window["estimate"]["n"] <= answers, window
            return covered and window["partitions"]["workers"] == {"answered": 1, "asked": 1}

        eventually(whole_alone, 180, "the surviving worker to read every partition itself")
        # until the group drops the dead member (its session timeout), answers came from half the partitions
        # and said so: one worker of two answered
        assert seen[0] == {**parts[0]["partitions"], "workers": {"answered": 1, "asked": 2}}, seen[0]
        # and meanwhile readiness said so: not ready, naming the worker that does not answer
        held = parts[0]["partitions"]["held"]
        said = f"answering for {held} of 6 partitions ("
        assert any(code == 503 and detail.startswith(said) and detail.endswith(f":{ports[1]} not answering)")
                   for code, detail in readiness), readiness  # fmt: skip
        eventually(lambda: ready(ports[0]), 120, "the survivor to be ready again, alone")
        eventually(lambda: listed(ports[0]) == cases, 120, "the surviving worker to list every case")
        assert workers[0].poll() is None
    finally:
        codes = [stop(w, signal.SIGTERM) for w in workers]
    assert codes[0] == 0
