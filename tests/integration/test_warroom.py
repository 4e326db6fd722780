"""The war-room API's access rules on a live worker: every role x every endpoint x in and out of scope, with
401 without a token, 403 outside role or scope, personal data masked for roles without that permission,
supervisors acting only on their teams' cases, every write audited, and no token in the log."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cxstream.kafka.embedded import free_port
from tests.integration.procs import eventually, ready, spawn, stop
from tests.integration.test_breaches import breaches, produce
from tests.integration.test_metrics import ADMIN_TOKEN, iso, worker_env

pytestmark = pytest.mark.integration

TOKENS = {
    "admin": ADMIN_TOKEN,
    "viewer-emea": "tok-viewer-emea-51c2",
    "analyst": "tok-analyst-8d0e",
    "supervisor-cxops": "tok-sup-cxops-3b7a",
    "supervisor-logistics": "tok-sup-log-90fe",
}
SPECS = [
    {"name": "test-admin", "role": "admin", "token": TOKENS["admin"]},
    {"name": "wall-emea", "role": "viewer", "regions": ["emea"], "token": TOKENS["viewer-emea"]},
    {"name": "a.analyst", "role": "analyst", "token": TOKENS["analyst"]},
    {"name": "s.cxops", "role": "supervisor", "teams": ["cx-operations"], "token": TOKENS["supervisor-cxops"]},
    {"name": "s.logistics", "role": "supervisor", "teams": ["logistics"], "token": TOKENS["supervisor-logistics"]},
]


def call(port: int, path: str, token: str | None, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def complaint(event_id: str, customer: str, region: str, site: str) -> bytes:
    from datetime import UTC, datetime

    return json.dumps({
        "event_id": event_id, "event_type": "SURVEY_RESPONSE", "event_time": iso(datetime.now(UTC)),
        "customer_id": customer, "region": region, "site": site, "team": "cx-operations",
        "journey_stage": "relationship", "channel": "email",
        "survey": {"metric": "NPS", "score": 0, "scale_min": 0, "scale_max": 10,
                   "verbatim": "I am cancelling my account, third time this month."},
    }).encode()  # fmt: skip


def test_every_role_on_every_endpoint_in_and_out_of_scope(bootstrap: str, tmp_path: Path) -> None:
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-rbac-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    env["CXSTREAM_API_TOKENS"] = json.dumps(SPECS)
    log = tmp_path / "worker.log"
    worker = spawn(["worker"], env, log)
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        tag = uuid.uuid4().hex[:8]
        emea_customer, apac_customer = f"C-e{tag}", f"C-a{tag}"
        asyncio.run(produce(bootstrap, [complaint(f"rb-e-{tag}", emea_customer, "emea", "ams-1"),
                                        complaint(f"rb-a-{tag}", apac_customer, "apac", "sin-1")]))  # fmt: skip
        found = eventually(lambda: len(b := [x for x in breaches(bootstrap) if tag in x["event_ids"][0]]) == 2 and b,
                           120, "both hot alerts")  # fmt: skip
        by_region = {b["labels"]["region"]: b for b in found}
        emea_case = "case-" + by_region["emea"]["breach_id"].removeprefix("br-")
        apac_case = "case-" + by_region["apac"]["breach_id"].removeprefix("br-")
        eventually(lambda: call(port, f"/api/cases/{apac_case}", ADMIN_TOKEN)[0] == 200, 60, "the cases")
        eventually(lambda: call(port, f"/api/cases/{emea_case}", ADMIN_TOKEN)[0] == 200, 60, "the cases")

        reads: dict[str, str] = {
            "me": "/api/me", "catalog": "/api/metrics", "breaches": "/api/breaches", "silences": "/api/silences",
            "cases": "/api/cases", "metric-emea": "/api/metrics/nps.relationship/1h?region=emea",
            "metric-apac": "/api/metrics/nps.relationship/1h?region=apac", "case-emea": f"/api/cases/{emea_case}",
            "case-apac": f"/api/cases/{apac_case}",
        }  # fmt: skip
        out_of_scope = {"viewer-emea": {"metric-apac", "case-apac"}, "supervisor-logistics": {"case-emea", "case-apac"}}
        for path in reads.values():  # no token, or an unknown one: 401
            assert call(port, path, None)[0] == 401, path
            assert call(port, path, "not-a-token")[0] == 401, path
        for who, token in TOKENS.items():
            for name, path in reads.items():
                status, body = call(port, path, token)
                expected = 403 if name in out_of_scope.get(who, set()) else 200
                assert status == expected, (who, name, status, body)

        viewer_cases = [c for c in call(port, "/api/cases", TOKENS["viewer-emea"])[1]["cases"]
                        if c["case_id"] in (emea_case, apac_case)]  # fmt: skip
        assert [c["case_id"] for c in viewer_cases] == [emea_case]  # the apac case is not listed
        assert viewer_cases[0]["labels"]["customer_id"] == "***"  # a viewer sees no customer id
        viewer_breaches = [b for b in call(port, "/api/breaches", TOKENS["viewer-emea"])[1]["breaches"]
                           if b["breach_id"] in {x["breach_id"] for x in found}]  # fmt: skip
        assert [b["region"] for b in viewer_breaches] == ["emea"] and viewer_breaches[0]["summary"] == "***"
        analyst_case = call(port, f"/api/cases/{apac_case}", TOKENS["analyst"])[1]
        assert analyst_case["labels"]["customer_id"] == apac_customer  # analysts may see personal data
        assert call(port, "/api/me", TOKENS["viewer-emea"])[1] == {
            "name": "wall-emea", "role": "viewer", "regions": ["emea"], "teams": [], "pii": False,
        }  # fmt: skip

        # writes: supervisors on their teams' cases, admins on any; nobody else
        comment: Callable[[str, str], tuple[int, Any]] = lambda who, case: call(  # noqa: E731
            port, f"/api/cases/{case}/actions", TOKENS[who], {"action": "COMMENT", "comment": f"seen by {who}"}
        )
        expected_writes = {"admin": 202, "supervisor-cxops": 202, "supervisor-logistics": 403, "analyst": 403,
                           "viewer-emea": 403}  # fmt: skip
        for who, status in expected_writes.items():
            got, body = comment(who, emea_case)
            assert got == status, (who, got, body)
        assert call(port, f"/api/cases/{emea_case}/actions", None, {"action": "COMMENT", "comment": "x"})[0] == 401
        status, body = call(port, f"/api/cases/{emea_case}/actions", TOKENS["admin"], {"action": "RESOLVE"})
        assert (status, body["rule"]) == (409, "case.transition")  # the state machine refuses before anything is sent
        status, body = call(port, f"/api/cases/{emea_case}/actions", TOKENS["admin"], {"action": "OVERDUE"})
        assert status == 400  # cxstream's own actions cannot be posted
        status, body = call(port, f"/api/cases/{emea_case}/actions", TOKENS["supervisor-cxops"],
                            {"action": "ACKNOWLEDGE", "assignee": "s.cxops"})  # fmt: skip
        assert status == 202 and body["state"] == "ACKNOWLEDGED"
        eventually(lambda: call(port, f"/api/cases/{emea_case}", ADMIN_TOKEN)[1]["state"] == "ACKNOWLEDGED", 60,
                   "the acknowledgement to be applied")  # fmt: skip
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0
    written = log.read_text()
    audits = [json.loads(line) for line in written.splitlines() if '"audit"' in line]
    assert {(a["actor"], a["action"]) for a in audits} >= {("test-admin", "COMMENT"), ("s.cxops", "COMMENT"),
                                                          ("s.cxops", "ACKNOWLEDGE")}  # fmt: skip
    for token in TOKENS.values():
        assert token not in written  # tokens never appear in logs
