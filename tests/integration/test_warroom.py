"""The war-room API's access rules on a live worker: every role x every endpoint x in and out of scope, with
401 without a token, 403 outside role or scope, personal data masked for roles without that permission,
supervisors acting only on their teams' cases, every write audited, and no token in the log."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import urllib.error
import urllib.request
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cxstream.kafka.embedded import free_port
from tests.integration.procs import eventually, ready, spawn, stop
from tests.integration.test_breaches import breaches, cli, produce
from tests.integration.test_metrics import ADMIN_TOKEN, iso, worker_env

pytestmark = pytest.mark.integration
INGEST_TOKEN = "tok-ingest-77c1"
JSON = {"Content-Type": "application/json"}

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


def call(
    port: int,
    path: str,
    token: str | None,
    body: dict[str, Any] | bytes | None = None,
    method: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    status, _, text = exchange(port, path, token, body, method, headers)
    try:
        return status, json.loads(text or b"{}")
    except ValueError:
        return status, text.decode(errors="replace")


def exchange(
    port: int,
    path: str,
    token: str | None,
    body: dict[str, Any] | bytes | None = None,
    method: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, bytes]:
    """Status, headers and raw body of one request."""
    sent = {"Authorization": f"Bearer {token}"} if token else {}
    sent.update(headers or {})
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def first_snapshot(port: int, token: str) -> dict[str, Any]:
    """The first ``snapshot`` event of ``GET /api/stream``."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/stream", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        event = None
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "snapshot":
                return json.loads(line.removeprefix("data: "))  # type: ignore[no-any-return]
    raise AssertionError("the stream ended without a snapshot")


def complaint(event_id: str, customer: str, region: str, site: str) -> bytes:
    from datetime import UTC, datetime

    return json.dumps({
        "event_id": event_id, "event_type": "SURVEY_RESPONSE", "event_time": iso(datetime.now(UTC)),
        "customer_id": customer, "region": region, "site": site, "team": "cx-operations",
        "journey_stage": "relationship", "channel": "email",
        "survey": {"metric": "NPS", "score": 0, "scale_min": 0, "scale_max": 10,
                   "verbatim": "I am cancelling my account, third time this month."},
    }).encode()  # fmt: skip


ROLES = tuple(TOKENS)
ALL = dict.fromkeys(ROLES, 200)
WRITERS = {**dict.fromkeys(ROLES, 202), "viewer-emea": 403}  # analysts and up act, viewers read


def test_every_declared_route_for_every_role_in_and_out_of_scope(bootstrap: str, tmp_path: Path) -> None:
    """Generated from ``web.routes.ROUTES``: a route without its row here fails the test."""
    from cxstream.web.routes import ROUTES, Door

    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-rbac-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    env["CXSTREAM_API_TOKENS"] = json.dumps(SPECS)
    env["CXSTREAM_INGEST_TOKEN"] = INGEST_TOKEN
    env["CXSTREAM_AUTH_FREE_FAILURES"] = "100000"  # this test sends many wrong tokens on purpose
    log = tmp_path / "worker.log"
    worker = spawn(["worker"], env, log)
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        tag = uuid.uuid4().hex[:8]
        emea_customer, apac_customer, silenced = f"C-e{tag}", f"C-a{tag}", f"C-s{tag}"
        asyncio.run(produce(bootstrap, [complaint(f"rb-e-{tag}", emea_customer, "emea", "ams-1"),
                                        complaint(f"rb-a-{tag}", apac_customer, "apac", "sin-1")]))  # fmt: skip
        found = eventually(lambda: len(b := [x for x in breaches(bootstrap) if tag in x["event_ids"][0]]) == 2 and b,
                           120, "both hot alerts")  # fmt: skip
        by_region = {b["labels"]["region"]: b for b in found}
        emea_case = "case-" + by_region["emea"]["breach_id"].removeprefix("br-")
        apac_case = "case-" + by_region["apac"]["breach_id"].removeprefix("br-")
        eventually(lambda: call(port, f"/api/cases/{apac_case}", ADMIN_TOKEN)[0] == 200, 60, "the cases")
        eventually(lambda: call(port, f"/api/cases/{emea_case}", ADMIN_TOKEN)[0] == 200, 60, "the cases")
        comment = f"calling {silenced} back, words {tag}"
        cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("CXSTREAM_")}, **env}
        out = cli(cli_env, "silence", "add", "region=amer", f"customer_id={silenced}", "--duration", "1h",
                  "--author", "m.jansen", "--comment", comment)  # fmt: skip
        amer_silence = out.split()[0]
        eventually(lambda: amer_silence in {x["id"] for x in call(port, "/api/silences", ADMIN_TOKEN)[1]["silences"]},
                   60, "the silence on the desk")  # fmt: skip

        cli(cli_env, "changes", "propose", "--title", f"Late deliveries {tag}", "--where", "region=emea",
            "--cause-code", "SUP-CARRIER-CAPACITY", "--author", "m.jansen")  # fmt: skip
        item = json.loads(cli(cli_env, "changes", "list", "--json"))[0]["item_id"]
        proposal = cli(cli_env, "governance", "propose", "--committee", "scaling-board", "--kind", "rollout",
                       "--title", f"Roll out {tag}", "--item", item, "--author", "a.okafor").split()[0]  # fmt: skip
        eventually(lambda: call(port, f"/api/governance/{proposal}", ADMIN_TOKEN)[0] == 200, 60, "the proposal")
        eventually(lambda: call(port, f"/api/remediation/items/{item}", ADMIN_TOKEN)[0] == 200, 60, "the item")
        started = {
            "title": f"Call-back {tag}",
            "hypothesis": "A call-back lifts support CSAT",
            "unit": "customer",
            "metrics": ["csat.support"],
            "arms": ["control", "callback"],
            "experiment_id": f"exp-{tag}",
        }
        assert call(port, "/api/experiments", ADMIN_TOKEN, started)[0] == 202
        eventually(lambda: call(port, f"/api/experiments/exp-{tag}", ADMIN_TOKEN)[0] == 200, 60, "the experiment")

        nps = "/api/metrics/nps.relationship/1h"
        out_of_scope = {"viewer-emea": 403}
        # (method, route) -> the requests made of it: (path, body, status per role)
        matrix: dict[tuple[str, str], list[tuple[str, dict[str, Any] | None, dict[str, int]]]] = {
            ("GET", "/api/me"): [("/api/me", None, ALL)],
            ("POST", "/api/session"): [("/api/session", None, ALL)],
            ("GET", "/api/warroom"): [("/api/warroom", None, ALL)],
            ("GET", "/api/stream"): [],  # read as a stream below
            ("GET", "/api/metrics"): [("/api/metrics", None, ALL)],
            ("GET", "/api/metrics/{definition}/{window}"): [
                (f"{nps}?region=emea", None, ALL), (f"{nps}?region=apac", None, {**ALL, **out_of_scope})],
            ("GET", "/api/metrics/{definition}/{window}/history"): [
                (f"{nps}/history?region=emea", None, ALL),
                (f"{nps}/history?region=apac", None, {**ALL, **out_of_scope})],
            ("GET", "/api/peer/cells"): [("/api/peer/cells?definition=nps.relationship", None, ALL)],
            ("GET", "/api/workforce"): [("/api/workforce", None, ALL)],
            ("GET", "/api/workforce/{queue_id}"): [  # a queue only for tokens that read all of it
                ("/api/workforce/emea-chat", None, {**ALL, "supervisor-cxops": 403, "supervisor-logistics": 403}),
                ("/api/workforce/billing", None,
                 {**ALL, "viewer-emea": 403, "supervisor-cxops": 403, "supervisor-logistics": 403})],
            ("GET", "/api/workforce/{queue_id}/quality"): [  # as the queue itself
                ("/api/workforce/emea-chat/quality", None,
                 {**ALL, "supervisor-cxops": 403, "supervisor-logistics": 403})],
            ("GET", "/api/calendar"): [("/api/calendar", None, ALL)],  # filtered to the queues read in full
            ("GET", "/api/scorecards"): [  # a team's scorecard: tokens of every region, of that team
                ("/api/scorecards?team=billing", None,
                 {**ALL, "viewer-emea": 403, "supervisor-cxops": 403, "supervisor-logistics": 403}),
                ("/api/scorecards?team=cx-operations", None,
                 {**ALL, "viewer-emea": 403, "supervisor-logistics": 403})],
            ("GET", "/api/remediation"): [("/api/remediation", None, ALL)],
            ("GET", "/api/remediation/procedures"): [("/api/remediation/procedures", None, ALL)],
            ("GET", "/api/remediation/allocation"): [("/api/remediation/allocation", None, ALL)],
            ("GET", "/api/remediation/pareto"): [
                ("/api/remediation/pareto?source=late-deliveries-by-site&region=emea", None, ALL),
                ("/api/remediation/pareto?source=causes&region=apac", None, {**ALL, **out_of_scope})],
            ("GET", "/api/remediation/trees"): [("/api/remediation/trees", None, ALL)],
            ("GET", "/api/remediation/trees/{tree_id}"): [("/api/remediation/trees/late-delivery-emea", None, ALL)],
            ("POST", "/api/remediation/items"): [  # analysts and up propose
                ("/api/remediation/items", {"title": f"Reopened tickets {tag}", "labels": {"region": "emea"}},
                 {**ALL, "admin": 202, "supervisor-cxops": 202, "supervisor-logistics": 202, "analyst": 202,
                  "viewer-emea": 403})],
            ("GET", "/api/remediation/items/{item_id}"): [(f"/api/remediation/items/{item}", None, ALL)],
            ("POST", "/api/remediation/items/{item_id}/actions"): [
                (f"/api/remediation/items/{item}/actions", {"action": "COMMENT", "comment": "seen"},
                 {"admin": 202, "supervisor-cxops": 202, "supervisor-logistics": 202, "analyst": 202,
                  "viewer-emea": 403}),
                (f"/api/remediation/items/{item}/actions", {"action": "APPROVE", "department": "logistics"},
                 {"admin": 409, "supervisor-cxops": 409, "supervisor-logistics": 409, "analyst": 403,
                  "viewer-emea": 403})],  # no change defined yet: refused by the item's rules
            ("GET", "/api/sites"): [("/api/sites", None, ALL)],
            ("GET", "/api/governance"): [("/api/governance", None, ALL)],
            ("POST", "/api/governance"): [
                ("/api/governance", {"committee": "scaling-board", "kind": "rollout", "title": f"More {tag}"},
                 WRITERS)],
            ("GET", "/api/governance/{proposal_id}"): [(f"/api/governance/{proposal}", None, ALL)],
            ("POST", "/api/governance/{proposal_id}/actions"): [
                (f"/api/governance/{proposal}/actions", {"action": "COMMENT", "comment": "seen"}, WRITERS),
                (f"/api/governance/{proposal}/actions", {"action": "VOTE", "vote": "yes"},  # not members
                 {"admin": 409, "supervisor-cxops": 409, "supervisor-logistics": 409, "analyst": 409,
                  "viewer-emea": 403})],
            ("GET", "/api/playbooks"): [("/api/playbooks", None, ALL)],
            ("GET", "/api/experiments"): [("/api/experiments", None, ALL)],
            ("GET", "/api/audits"): [("/api/audits", None, ALL)],
            ("GET", "/api/targets"): [("/api/targets", None, ALL)],
            ("GET", "/review"): [(f"/review?scope=region:emea&period={date.today():%Y-%m}", None, ALL),
                                 (f"/review?scope=region:apac&period={date.today():%Y-%m}", None,
                                  {**ALL, **out_of_scope})],
            ("GET", "/api/plateaus"): [("/api/plateaus?metric=csat.delivery&scope=region:emea", None, ALL),
                                       ("/api/plateaus?metric=csat.delivery&scope=region:apac", None,
                                        {**ALL, **out_of_scope})],
            ("GET", "/api/impact"): [  # a region's token reads its region; controls outside it are refused
                (f"/api/impact?metric=csat.delivery&scope=region:emea&rollout={date.today()}&control=region:emea",
                 None, ALL),
                (f"/api/impact?metric=csat.delivery&scope=region:apac&rollout={date.today()}", None,
                 {**ALL, **out_of_scope})],
            ("POST", "/api/experiments"): [  # nps.relationship keeps no arm dimension: refused by the rules
                ("/api/experiments", {**started, "experiment_id": None, "metrics": ["nps.relationship"]},
                 {**{r: 409 for r in WRITERS}, "viewer-emea": 403})],
            ("GET", "/api/experiments/{experiment_id}"): [(f"/api/experiments/exp-{tag}?chart=svg", None, ALL)],
            ("POST", "/api/experiments/{experiment_id}/stop"): [  # no decision given
                (f"/api/experiments/exp-{tag}/stop", {}, {**{r: 400 for r in WRITERS}, "viewer-emea": 403})],
            ("GET", "/api/tolerance"): [("/api/tolerance?pair=delivery-delay.csat&chart=svg", None, ALL),
                                        ("/api/tolerance?pair=delivery-delay.csat&scope=region:apac", None,
                                         {**ALL, **out_of_scope})],
            ("GET", "/api/thresholds"): [("/api/thresholds", None, ALL),
                                         ("/api/thresholds?rule=csat.delivery.low&scope=region:apac", None,
                                          {**ALL, **out_of_scope})],
            ("GET", "/api/handovers"): [("/api/handovers", None, ALL)],
            ("GET", "/api/handovers/{handover_id}"): [("/api/handovers/cx-operations.20000101T000000Z", None,
                                                      {r: 404 for r in ALL})],
            ("POST", "/api/handovers/{handover_id}/ack"): [("/api/handovers/cx-operations.20000101T000000Z/ack", {},
                                                           {r: 404 for r in ALL})],
            ("GET", "/api/partner-feedback"): [("/api/partner-feedback?chart=svg", None, ALL),
                                               ("/api/partner-feedback?playbook=nope", None,
                                                {r: 404 for r in ALL})],
            ("GET", "/api/playbooks/{playbook_id}"): [
                ("/api/playbooks/late-delivery-handling?site=ams-1", None, ALL),
                ("/api/playbooks/late-delivery-handling?site=mnl-1", None, {**ALL, **out_of_scope})],
            ("GET", "/api/sites/funnel"): [("/api/sites/funnel?metric=csat.delivery", None, ALL)],
            ("GET", "/api/sites/{site}/chart"): [
                ("/api/sites/ams-1/chart?metric=csat.delivery", None, ALL),
                ("/api/sites/sin-1/chart?metric=csat.delivery", None, {**ALL, **out_of_scope})],
            ("GET", "/api/breaches"): [("/api/breaches", None, ALL)],
            ("GET", "/api/silences"): [("/api/silences", None, ALL)],
            ("GET", "/api/cases"): [("/api/cases", None, ALL)],
            ("GET", "/api/cases/{case_id}"): [
                (f"/api/cases/{emea_case}", None, {**ALL, "supervisor-logistics": 403}),
                (f"/api/cases/{apac_case}", None, {**ALL, "supervisor-logistics": 403, "viewer-emea": 403})],
            ("POST", "/api/cases/{case_id}/actions"): [
                (f"/api/cases/{emea_case}/actions", {"action": "COMMENT", "comment": "seen"},
                 {"admin": 202, "supervisor-cxops": 202, "supervisor-logistics": 403, "analyst": 403,
                  "viewer-emea": 403})],
            ("POST", "/ingest/{source}"): [],  # its own token: below
            ("GET", "/healthz"): [], ("GET", "/readyz"): [], ("GET", "/metrics"): [], ("GET", "/status"): [],
            ("GET", "/openapi.json"): [], ("GET", "/"): [], ("GET", "/favicon.svg"): [],
            ("DELETE", "/api/session"): [],  # public: below
        }  # fmt: skip
        assert set(matrix) == {(r.method, r.path) for r in ROUTES}, "every declared route needs its rows here"

        answers: dict[tuple[str, str], Any] = {}
        for route in ROUTES:
            method, template = route.method, route.path
            for path, body, expected in matrix[(method, template)]:
                assert route.door is Door.TOKEN
                for token in (None, "not-a-token", ADMIN_TOKEN[:-1]):  # none, unknown, almost right: 401
                    assert call(port, path, token, body, method)[0] == 401, (method, path, token)
                for who in ROLES:
                    status, answer = call(port, path, TOKENS[who], body, method)
                    assert status == expected[who], (who, method, path, status, answer)
                    answers[(who, path)] = answer
        for route in ROUTES:  # every token route refuses no token, whatever its rows above
            if route.door is Door.TOKEN:
                path = route.path.format(
                    definition="nps.relationship",
                    window="1h",
                    case_id=emea_case,
                    queue_id="emea-chat",
                    item_id=item,
                    tree_id="late-delivery-emea",
                    site="ams-1",
                    playbook_id="late-delivery-handling",
                    proposal_id=proposal,
                    experiment_id=f"exp-{tag}",
                    handover_id="cx-operations.20000101T000000Z",
                )
                assert call(port, path, None, {} if route.method == "POST" else None, route.method)[0] == 401, route

        halted = call(port, f"/api/experiments/exp-{tag}/stop", ADMIN_TOKEN, {"decision": "route check done"})
        assert halted[0] == 202 and halted[1]["state"] == "STOPPED", halted  # csat.support is free for other tests

        # scope and masking in what was answered
        def listed(who: str, path: str, key: str) -> list[dict[str, Any]]:
            return answers[(who, path)][key]  # type: ignore[no-any-return]

        ours = {emea_case, apac_case}
        assert [c["case_id"] for c in listed("viewer-emea", "/api/cases", "cases") if c["case_id"] in ours] == [
            emea_case]  # fmt: skip
        assert not [c for c in listed("supervisor-logistics", "/api/cases", "cases") if c["case_id"] in ours]
        viewer_case = next(c for c in listed("viewer-emea", "/api/cases", "cases") if c["case_id"] == emea_case)
        assert viewer_case["labels"]["customer_id"] == "***"  # a viewer sees no customer id
        mine = {b["breach_id"] for b in found}
        viewer_breaches = [b for b in listed("viewer-emea", "/api/breaches", "breaches") if b["breach_id"] in mine]
        assert [b["region"] for b in viewer_breaches] == ["emea"] and viewer_breaches[0]["summary"] == "***"
        assert not [b for b in listed("supervisor-logistics", "/api/breaches", "breaches") if b["breach_id"] in mine]
        assert answers[("analyst", f"/api/cases/{apac_case}")]["labels"]["customer_id"] == apac_customer
        assert answers[("viewer-emea", "/api/me")] == {
            "name": "wall-emea", "role": "viewer", "regions": ["emea"], "teams": [], "pii": False}  # fmt: skip
        # silences: the AMER one is not the EMEA wall's; masked for viewers, whole for analysts
        silences = {who: {x["id"]: x for x in listed(who, "/api/silences", "silences")} for who in ROLES}
        assert amer_silence not in silences["viewer-emea"]
        assert silences["analyst"][amer_silence]["comment"] == comment
        assert f"customer_id={silenced}" in silences["admin"][amer_silence]["matchers"]
        assert silences["supervisor-logistics"][amer_silence]["comment"] == comment  # supervisors see personal data
        # metrics: the team-scoped supervisor reads its team's slice (no cx-operations answers), on every path
        emea_nps = f"{nps}?region=emea"
        assert answers[("admin", emea_nps)]["estimate"]["n"] >= 1
        assert answers[("supervisor-logistics", emea_nps)]["estimate"]["n"] == 0
        cells = answers[("supervisor-logistics", "/api/peer/cells?definition=nps.relationship")]["cells"]
        assert cells == [] or all("logistics" in json.dumps(c[0]) for c in cells)
        for who in ROLES:  # the war room, its stream and the metric API agree on scope
            room, streamed = answers[(who, "/api/warroom")], first_snapshot(port, TOKENS[who])
            assert [r["region"] for r in streamed["regions"]] == [r["region"] for r in room["regions"]], who
            assert {b["breach_id"] for b in streamed["breaches"]} == {b["breach_id"] for b in room["breaches"]}, who
        wall = answers[("viewer-emea", "/api/warroom")]
        assert [r["region"] for r in wall["regions"]] == ["emea"] and {t["region"] for t in wall["tiles"]} <= {"emea"}
        for who in ("admin", "supervisor-logistics"):
            tile = next(t for t in answers[(who, "/api/warroom")]["tiles"]
                        if t["definition"] == "nps.relationship" and t["region"] == "emea")  # fmt: skip
            assert tile["estimate"]["n"] == answers[(who, emea_nps)]["estimate"]["n"], who  # the same read
        # sessions: the cookie holds no token, is HttpOnly, expires, works, and signing out clears it
        status, headers, _ = exchange(port, "/api/session", TOKENS["analyst"], b"", "POST")
        cookie = headers["Set-Cookie"]
        assert status == 200 and TOKENS["analyst"] not in cookie and "HttpOnly" in cookie and "Max-Age=" in cookie
        session = cookie.split(";", 1)[0]
        assert call(port, "/api/me", None, headers={"Cookie": session})[1]["name"] == "a.analyst"
        tampered = session[:-1] + ("0" if session[-1] != "0" else "1")
        assert call(port, "/api/me", None, headers={"Cookie": tampered})[0] == 401
        status, headers, _ = exchange(port, "/api/session", None, None, "DELETE")
        assert status == 200 and "cxstream_session=;" in headers["Set-Cookie"].replace('""', "")
        # the webhook: its own token, not an API token; JSON only
        record = complaint(f"rb-i-{tag}", f"C-i{tag}", "emea", "ams-1")
        for token in (None, "not-a-token", ADMIN_TOKEN):
            assert call(port, "/ingest/canonical", token, record, "POST", JSON)[0] == 401, token
        assert call(port, "/ingest/canonical", INGEST_TOKEN, record, "POST", {"Content-Type": "text/plain"})[0] == 415
        assert call(port, "/ingest/canonical", INGEST_TOKEN, record, "POST", JSON)[0] == 202
        # public routes: no token needed, and nothing personal in them
        markers = (emea_customer, apac_customer, silenced, "cancelling", tag)
        for route in ROUTES:
            if route.door is not Door.PUBLIC:
                continue
            status, headers, raw = exchange(port, route.path, None, None, route.method)
            assert status == 200, route
            assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
            text = raw.decode(errors="replace")
            assert not [m for m in markers if m in text], (route.path, [m for m in markers if m in text])
        page_policy = exchange(port, "/", None)[1]["Content-Security-Policy"]
        assert "default-src 'none'" in page_policy and "frame-ancestors 'none'" in page_policy
        # Faust's own views are not served
        for path in ("/table/", f"/table/cxstream-cases/{emea_case}/", "/router/", "/stats/", "/graph/"):
            assert exchange(port, path, ADMIN_TOKEN)[0] == 404, path
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0
    written = log.read_text()
    audits = [json.loads(line) for line in written.splitlines() if '"audit"' in line]
    assert {(a["actor"], a["action"]) for a in audits} >= {("test-admin", "COMMENT"), ("s.cxops", "COMMENT")}
    for token in (*TOKENS.values(), INGEST_TOKEN):
        assert token not in written  # tokens never appear in logs
    assert not [m for m in (emea_customer, apac_customer, silenced, "cancelling") if m in written]
