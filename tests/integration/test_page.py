"""The war-room page in a real browser (Debian's headless Chromium driven by playwright) against a running
worker and broker: it signs in with a token from the link, goes live over Server-Sent Events, shows in each
tile the value and sample size the API returns, lists the open breach and its case, and turns the region red
when a critical breach opens there; a viewer limited to one region sees only that region. The screenshots are
kept in test-artifacts/."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from cxstream.demo.past import past_contacts, past_records
from cxstream.kafka.embedded import free_port
from tests.integration.procs import ROOT, edited_topology, eventually, http_get, ready, spawn, stop
from tests.integration.test_breaches import answers, breaches, produce
from tests.integration.test_history import cxstream
from tests.integration.test_metrics import ADMIN_TOKEN, worker_env
from tests.integration.test_warroom import complaint
from tests.integration.test_workforce import backtest_days
from tests.integration.tickets import WEAK, ticket_records

pytestmark = pytest.mark.integration
ARTIFACTS = ROOT / "test-artifacts"
VIEWER = "tok-page-viewer-apac-21d9"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def api(port: int, path: str, token: str = ADMIN_TOKEN) -> dict[str, Any]:
    code, body = http_get(f"http://127.0.0.1:{port}{path}", token=token)
    assert code == 200, body
    return json.loads(body)  # type: ignore[no-any-return]


def test_the_page_shows_what_the_api_returns_and_turns_a_breached_region_red(bootstrap: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `make test` installs it (Debian package chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    env = worker_env(bootstrap, port, f"cxstream-page-{uuid.uuid4().hex[:8]}", tmp_path / "data")
    env["CXSTREAM_API_TOKENS"] = json.dumps([
        {"name": "test-admin", "role": "admin", "token": ADMIN_TOKEN},
        {"name": "wall-apac", "role": "viewer", "regions": ["apac"], "token": VIEWER},
    ])  # fmt: skip
    # the experiments' and verdicts' live sums every 5 s (the default is a minute)
    topology = edited_topology(
        tmp_path, [("remediation.yaml", "    before: 7d ", "    check_every: 5s\n    before: 7d ")]
    )
    # a cx-operations shift that ends while the test runs: its handover is on the page before the review
    boundary = (datetime.now(UTC) + timedelta(seconds=75)).replace(microsecond=0)
    (topology / "handovers.yaml").write_text(
        "handovers:\n  ack_within: 30m\n  grace: 3s\n  teams:\n    - team: cx-operations\n      time_zone: UTC\n"
        f'      shifts:\n        - {{name: day, start: "{boundary - timedelta(hours=10):%H:%M:%S}"}}\n'
        f'        - {{name: night, start: "{boundary:%H:%M:%S}"}}\n'
    )
    env["CXSTREAM_TOPOLOGY_DIR"] = str(topology)
    worker = spawn(["worker"], env, tmp_path / "worker.log")
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        tag = uuid.uuid4().hex[:8]
        # EMEA deliveries: 40 answers, 30 of them poor: csat.delivery falls under its critical level (55 %)
        asyncio.run(produce(bootstrap, answers("emea", "ams-1", [1] * 30 + [5] * 10, f"pg-{tag}")))
        asyncio.run(produce(bootstrap, [complaint(f"pg-hot-{tag}", f"C-{tag}", "emea", "ams-1")]))
        eventually(lambda: [b for b in breaches(bootstrap) if f"pg-hot-{tag}" in b["event_ids"]], 120, "hot alert")

        def emea_tile() -> dict[str, Any] | None:
            tiles = api(port, "/api/warroom")["tiles"]
            tile = next(t for t in tiles if t["region"] == "emea" and t["definition"] == "csat.delivery")
            return tile if tile["estimate"] and tile["estimate"]["n"] >= 40 else None

        tile = eventually(emea_tile, 120, "the EMEA delivery CSAT to count the 40 answers")
        asyncio.run(partner_reports(bootstrap, tag))  # a critical one: a revision before the board
        experiment = {"experiment_id": f"exp-pg-{tag}", "title": "Call back within 3 hours", "unit": "customer",
                      "hypothesis": "A call-back after a poor rating lifts support CSAT", "metrics": ["csat.support"],
                      "arms": ["control", "callback"], "start": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                      "planned_per_arm": 292}  # fmt: skip
        assert api_post(port, "/api/experiments", experiment)[0] == 202
        asyncio.run(produce(bootstrap, support_ratings(tag, 120)))
        records, _ = ticket_records(f"pg{tag}", datetime.now(UTC) - timedelta(hours=1), team="billing")
        asyncio.run(produce(bootstrap, records))  # a billing team's tickets for the huddle view
        now = datetime.now(UTC)  # four EMEA chat agents log in, one of them goes away
        asyncio.run(produce(bootstrap, [agent_status(f"pg-{tag}-{i}", "online", now) for i in range(4)]
                            + [agent_status(f"pg-{tag}-0", "away", now + timedelta(seconds=1))]))  # fmt: skip
        past = tmp_path / "past.jsonl"  # half a year of history for the history chart
        today = datetime.now(UTC).date()
        contacts = past_contacts(today - timedelta(days=21), 21, per_weekday=300)  # three weeks for the staffing view
        by_site = site_answers(today, {"ams-1": ("emea", 0.55), "chi-1": ("amer", 0.82), "sin-1": ("apac", 0.8)},
                               days=35)  # fmt: skip
        past.write_bytes(b"\n".join([*past_records(today - timedelta(days=183), 182, per_day=120), *contacts,
                                     *by_site]))  # fmt: skip
        loaded = cxstream(["import", "--history", "--source", "canonical", str(past)], bootstrap)
        assert loaded.returncode == 0, loaded.stderr
        # from the history: the customers' tolerance of late deliveries, and levels proposed as a diff to review
        tolerated = cxstream(["thresholds", "tolerance", "--pair", "delivery-delay.csat", "--json"], bootstrap)
        assert tolerated.returncode == 0, tolerated.stderr
        assert next(c for c in json.loads(tolerated.stdout) if not c["scope"])["claimed"]
        proposed = cxstream(["thresholds", "propose", "--rule", "delivery.delay.high", "--diff"], bootstrap)
        assert proposed.returncode == 0, proposed.stderr
        assert "--- a/alerting.yaml" in proposed.stdout and "+      origin:" in proposed.stdout, proposed.stdout
        assert "--- a/metrics.yaml" in proposed.stdout and "SLA target: within" in proposed.stdout
        # late deliveries, mostly from Amsterdam, and a remediation item with its change for the improvement view
        asyncio.run(produce(bootstrap, [late_delivery(f"pg-late-{tag}-{i}", "ams-1" if i < 30 else "waw-1", 30)
                                        for i in range(36)]))  # fmt: skip
        item = propose_with_change(bootstrap, tmp_path, tag)
        tomorrow = f"{today + timedelta(days=1)}T09:00"  # a training planned on billing's busiest morning
        training = ["calendar", "add", "--kind", "training", "--title", f"Refunds 2027 {tag}", "--queue", "billing"]
        planned = cxstream([*training, "--agents", "2", "--start", tomorrow, "--duration", "3h"], bootstrap)
        assert planned.returncode == 0, planned.stderr
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/#token={ADMIN_TOKEN}")
                page.wait_for_selector("#conn.live", timeout=30_000)
                assert "token=" not in page.url  # the token left the address bar
                selector = '.tile[data-region="emea"][data-definition="csat.delivery"]'
                page.wait_for_selector(f"{selector} .value", timeout=30_000)
                shown = api(port, "/api/warroom")
                expected = next(
                    t for t in shown["tiles"] if t["region"] == "emea" and t["definition"] == "csat.delivery"
                )
                value = page.inner_text(f"{selector} .value")
                meta = page.inner_text(f"{selector} .meta")
                assert value == f"{expected['estimate']['value']:.0f}%", (value, expected)
                assert f"n={expected['estimate']['n']}" in meta and "95% CI" in meta, meta
                assert expected["status"] == "critical" and tile["status"] == "critical"
                page.wait_for_selector('.region.critical[data-region="emea"]', timeout=30_000)
                assert page.get_attribute('.region[data-region="amer"]', "class") == "region ok"
                page.wait_for_selector("#breaches .sev.CRITICAL", timeout=30_000)
                assert "detractor.critical-driver" in page.inner_text("#breaches")
                page.wait_for_function("document.querySelectorAll('#cases .row').length >= 1", timeout=60_000)
                assert "acknowledge" in page.inner_text("#cases")
                page.screenshot(path=str(ARTIFACTS / "warroom-admin.png"), full_page=True)

                # the history chart: one point per week with a value, the interval band, n in the note
                weeks = api(port, "/api/metrics/csat.delivery/history?grain=week&from="
                            f"{datetime.now(UTC).date() - timedelta(days=26 * 7 - 1)}")  # fmt: skip
                valued = [p for p in weeks["points"] if p["estimate"]["value"] is not None]
                assert len(valued) >= 20
                # polled from here: the page's Content-Security-Policy refuses the eval wait_for_function relies on
                eventually(lambda: len(page.query_selector_all("#history-chart circle")) == len(valued), 30, "chart")
                assert page.query_selector("#history-chart polygon") is not None  # the interval band
                note = page.inner_text("#history-note")
                assert "csat.delivery by week, all regions" in note and "n=" in note and "95% interval" in note, note
                assert valued[-1]["estimate"]["text"] in note
                page.select_option("#history-region", "emea")
                page.select_option("#history-grain", "month")
                eventually(lambda: "by month, emea" in page.inner_text("#history-note"), 30, "the EMEA months")
                months = api(port, "/api/metrics/csat.delivery/history?grain=month&region=emea&from="
                             f"{datetime.now(UTC).date() - timedelta(days=729)}")  # fmt: skip
                shown_months = [p for p in months["points"] if p["estimate"]["value"] is not None]
                assert len(page.query_selector_all("#history-chart circle")) == len(shown_months)
                page.locator("#history").screenshot(path=str(ARTIFACTS / "warroom-history-emea-month.png"))

                # the staffing view: contacts forecast with its band and what arrived, agents needed, the accuracy
                plan = api(port, f"/api/workforce/emea-chat?day={today}")
                forecast = [i for i in plan["intervals"] if i["arrivals"]["forecast"] is not None]
                assert len(forecast) == 48 and plan["accuracy"]["days"] == backtest_days(plan)
                eventually(lambda: len(page.query_selector_all("#staffing-charts svg")) == 2, 30, "staffing charts")
                assert len(page.query_selector_all('#staffing-charts path[data-series="forecast (80 %)"]')) == 1
                assert len(page.query_selector_all('#staffing-charts path[data-series="agents needed"]')) == 1
                # the floor: three of the four EMEA chat agents on it, drawn over the coming hour and listed
                eventually(lambda: page.query_selector('#staffing-charts path[data-series="on the floor now"]'), 60,
                           "the agents on the floor in the chart")  # fmt: skip
                weeks = plan_live(port)["intervals"][0]["arrivals"]["weeks"]

                def floor_row() -> str | None:
                    row = page.locator("#floor-rows tr", has_text="EMEA chat")
                    text = row.inner_text() if row.count() else ""
                    return text if f"n={weeks} weeks" in text else None

                row = eventually(floor_row, 70, "the EMEA chat row of the floor table")
                assert "3 of 4" in row and "away 1" in row and "target 80 %" in row, row
                assert page.query_selector("#staffing-charts polygon") is not None  # the prediction band
                note = page.inner_text("#staffing-note")
                accuracy = plan["accuracy"]
                assert "EMEA chat" in note and f"n={accuracy['intervals']} intervals" in note, note
                assert f"WAPE {round(100 * accuracy['wape_interval'])} %" in note and "Erlang A" in note, note
                peak = max(plan["intervals"], key=lambda i: i["agents"] or 0)
                assert f"{peak['agents']} agents, {peak['positions']} positions" in note, note
                page.locator("#staffing").screenshot(path=str(ARTIFACTS / "warroom-staffing.png"))
                page.select_option("#staffing-queue", "billing")
                eventually(lambda: "Billing (all regions)" in page.inner_text("#staffing-note"), 30, "billing")
                # the cost of quality of billing's complex contacts: CSAT by handle time, and its staffing cost
                eventually(lambda: len(page.query_selector_all("#quality-charts svg")) == 2, 60, "the trade-off")
                quality = page.inner_text("#quality-note")
                assert "rated complex tickets" in quality and "not the effect" in quality, quality
                eventually(lambda: f"Refunds 2027 {tag}" in page.inner_text("#calendar-rows"), 60, "the calendar")
                assert "takes 2 agents from billing" in page.inner_text("#calendar-rows")
                page.locator("#staffing").screenshot(path=str(ARTIFACTS / "warroom-cost-of-quality.png"))

                # the huddle: the billing team's last shift, a row per agent, charts, who needs coaching
                page.select_option("#huddle-team", "billing")
                weak = f"pg{tag}-{WEAK}"
                eventually(lambda: weak in page.inner_text("#huddle-coaching"), 60, "the weak agent flagged")
                rows = page.inner_text("#huddle-rows")
                assert all(f"pg{tag}-b{i}" in rows for i in range(1, 7)), rows
                assert len(page.query_selector_all("#huddle-charts svg")) == 2
                assert len(page.query_selector_all(f'#huddle-charts circle[data-label="{weak}"]')) == 2
                coaching = page.inner_text("#huddle-coaching")
                assert "coach on CSAT" in coaching and "comparisons" in coaching and "Still waiting" in coaching
                assert "not ranked" in page.inner_text("#huddle-note")
                page.locator("#huddle").screenshot(path=str(ARTIFACTS / "warroom-huddle.png"))

                # the improvement view: a Pareto of late deliveries by site, the fault tree, the backlog and an item
                page.select_option("#pareto-region", "emea")
                page.select_option("#pareto-source", "late-deliveries-by-site")
                eventually(lambda: "Amsterdam fulfilment centre" in (page.inner_html("#pareto-chart") or ""), 60,
                           "the late-deliveries Pareto")  # fmt: skip
                sites = api(port, "/api/remediation/pareto?source=late-deliveries-by-site&region=emea")
                assert sites["rows"][0]["key"] == "ams-1" and sites["rows"][0]["count"] >= 30, sites
                assert f"n={sites['total']}" in page.inner_html("#pareto-chart")
                assert "Wilson" in page.inner_text("#pareto-note")
                eventually(lambda: page.query_selector('#tree-chart g.event[data-node="hub_late"]'), 60, "the tree")
                assert "n=" in page.inner_text("#tree-chart") and "Most likely explanation" in page.inner_text(
                    "#tree-note"
                )
                eventually(lambda: item in page.inner_text("#backlog-rows"), 60, "the backlog row")
                page.click(f'#backlog-rows button[data-item="{item}"]')
                eventually(lambda: "blocks approval" in page.inner_text("#item-detail"), 60, "the item's FMEA")
                detail = page.inner_text("#item-detail")
                assert "required logistics, customer-service, compliance" in detail, detail
                assert page.query_selector('#item-detail svg rect[data-label="Amsterdam fulfilment centre"]')
                eventually(lambda: "Capacity: analytics" in page.inner_text("#allocation-note"), 60, "the allocation")
                assert item in page.inner_text("#allocation-rows")  # its effect, reach and requests are given
                page.locator("#improvement").screenshot(path=str(ARTIFACTS / "warroom-improvement.png"))

                # the locations view: the funnel plot of delivery CSAT, a site's control chart, the noise budget
                eventually(lambda: page.query_selector("#funnel-chart svg circle.site"), 60, "the funnel plot")
                assert page.query_selector('#funnel-chart circle[data-site="Amsterdam fulfilment centre"]')
                assert "comparisons a day" in page.inner_text("#locations-note")
                eventually(lambda: page.query_selector("#site-chart svg circle.day"), 60, "the site's control chart")
                assert "per day around its own centre" in page.inner_text("#site-note")
                eventually(lambda: "Late-delivery handling" in page.inner_text("#rollout-rows"), 60, "the rollout map")
                eventually(lambda: "wave-1" in page.inner_text("#waves"), 60, "the waves")
                # partners' feedback per step, and the revision it proposed before the board
                eventually(lambda: page.query_selector("#feedback-chart svg rect.sev-critical"), 60, "the feedback")
                assert "n=2 from 2 partners, 2 sites" in page.inner_html("#feedback-chart")
                step = page.inner_text('#feedback-rows li[data-step="late-delivery-handling/notify"]')
                assert "revision due: a critical report" in step and "Send the notice at 15:00" in step, step
                eventually(lambda: "Revise Late-delivery handling v2, step notify" in page.inner_text("#proposal-rows"),
                           120, "the proposed revision")  # fmt: skip
                assert "no verified effect" in page.inner_text("#proposal-rows")
                page.locator("#locations").screenshot(path=str(ARTIFACTS / "warroom-locations.png"))

                # the impact view: the experiment's arms and its forest chart; a change's effect at a site
                eventually(lambda: f"exp-pg-{tag}" in page.inner_html("#experiment-rows"), 60, "the experiment")

                def forest() -> Any:
                    page.click(f'#experiment-rows button[data-experiment="exp-pg-{tag}"]')
                    return page.query_selector("#experiment-chart svg circle.estimate")

                eventually(forest, 120, "the experiment's arms in its forest chart")
                assert "assigned by sha256(salt|unit id)" in page.inner_text("#experiment-note")
                page.select_option("#change-metric", "csat.delivery")
                page.fill("#change-scope", "site:ams-1")
                page.fill("#change-rollout", str(today - timedelta(days=12)))
                page.click("#change-go")
                eventually(lambda: page.query_selector("#change-chart svg"), 60, "the change's chart")
                note = page.inner_text("#change-note")
                assert "counterfactual" in note and "unadjusted" in note and "matched on the pre-period" in note, note
                eventually(lambda: "closed weeks" in page.inner_text("#plateau-note"), 30, "the plateau verdict")
                audited = "late-delivery-sla (Late-delivery handling v2)"
                eventually(lambda: audited in page.inner_text("#audit-rows"), 60, "the audits")
                audits = api(port, "/api/audits")["audits"]
                shown_audit = next(a for a in audits if a["id"] == "late-delivery-sla")
                assert shown_audit["results"] and all("n" in r for r in shown_audit["results"])
                page.locator("#impact").screenshot(path=str(ARTIFACTS / "warroom-impact.png"))

                # thresholds: the tolerance curve with its band, the tolerance point and the levels proposed for the
                # delivery-delay rule; the levels in force say where they came from
                eventually(lambda: page.query_selector("#tolerance-chart svg"), 60, "the tolerance curve")
                chart = page.inner_html("#tolerance-chart")
                overall = next(
                    c for c in api(port, "/api/tolerance?pair=delivery-delay.csat")["curves"] if not c["scope"]
                )
                assert "answers" in chart and "<polygon" in chart and f"n={overall['n']:,}" in chart
                assert overall["claimed"], overall["reason"]  # the past's customers mind a delivery 12 h late
                assert 'data-kind="target"' in chart and "tolerate delivery delay up to" in page.inner_text(
                    "#tolerance-note")  # fmt: skip
                assert 'data-kind="warning"' in chart and 'data-kind="critical"' in chart  # the proposed levels
                rules = api(port, "/api/thresholds")["in_force"]
                eventually(lambda: "…" not in page.inner_text("#level-rows"), 90, "every rule's proposal")
                assert len(page.query_selector_all("#level-rows tr")) == len(rules)
                assert "typed by hand" in page.inner_text("#level-rows")
                page.locator("#thresholds").screenshot(path=str(ARTIFACTS / "warroom-thresholds.png"))

                # the handover of the shift that ended during the test, acknowledged from the page
                [handover] = eventually(lambda: api(port, "/api/handovers?team=cx-operations")["handovers"] or None,
                                        150, "the handover at the shift boundary")  # fmt: skip
                page.select_option("#handover-team", "cx-operations")
                eventually(lambda: page.query_selector("#handover-list .handover button.ack"), 30, "the handover")
                shown_handover = page.inner_text("#handover-list")
                assert handover["shift"] == "day" and handover["next_shift"] == "night" and handover["breaches"]
                assert "Pick up" in shown_handover, shown_handover
                assert all(b["rule_id"] in shown_handover for b in handover["breaches"]), shown_handover
                assert all(c["case_id"] in shown_handover for c in handover["cases"]), shown_handover
                page.locator("#handovers").screenshot(path=str(ARTIFACTS / "warroom-handovers.png"))
                page.click("#handover-list .handover button.ack")
                eventually(lambda: "acknowledged by test-admin" in page.inner_text("#handover-list"), 30, "the ack")
                # the review pack of the scope, opened from the page's link with the page's session
                page.fill("#change-scope", "region:emea")
                page.dispatch_event("#change-scope", "change")
                review = browser_review(page)
                assert "CX review: region emea" in review.inner_text("h1")
                assert review.query_selector("table") and "n=" in review.inner_text("body")
                assert not review.query_selector("script")
                review.screenshot(path=str(ARTIFACTS / "review-emea.png"), full_page=True)
                call_stop = api_post(port, f"/api/experiments/exp-pg-{tag}/stop", {"decision": "page checked"})
                assert call_stop[0] == 202  # csat.support is free for other tests

                wall = browser.new_page(viewport={"width": 1600, "height": 1000})
                wall.goto(f"http://127.0.0.1:{port}/#token={VIEWER}")
                wall.wait_for_selector("#conn.live", timeout=30_000)
                regions = [r.get_attribute("data-region") for r in wall.query_selector_all(".region")]
                assert regions == ["apac"]  # a viewer scoped to one region sees only that region
                assert "detractor.critical-driver" not in wall.inner_text("#breaches")
                # history too is limited to the viewer's region
                eventually(lambda: ", apac:" in wall.inner_text("#history-note"), 30, "the viewer's history")
                # staffing: only the queues the viewer reads in full (no all-regions queue)
                eventually(lambda: "APAC chat" in wall.inner_text("#staffing-note"), 30, "the viewer's staffing")
                queues = [o.inner_text() for o in wall.query_selector_all("#staffing-queue option")]
                assert queues == ["APAC chat"], queues
                wall.screenshot(path=str(ARTIFACTS / "warroom-viewer-apac.png"), full_page=True)

                signed_out = browser.new_page()
                signed_out.goto(f"http://127.0.0.1:{port}/")
                signed_out.wait_for_selector("#signin:not([hidden])", timeout=30_000)
            finally:
                browser.close()
        assert worker.poll() is None
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0
    assert (ARTIFACTS / "warroom-admin.png").stat().st_size > 10_000


def agent_status(agent: str, state: str, at: datetime) -> bytes:
    event_id = f"acd:{agent}:{state}"
    return json.dumps({
        "event_id": event_id, "event_type": "AGENT_STATUS", "event_time": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "source": "acd", "source_record_id": event_id, "agent_id": agent, "team": "customer-service",
        "region": "emea", "site": "lis-1", "channel": "chat", "operation": {"status": state},
    }).encode()  # fmt: skip


def plan_live(port: int) -> dict[str, Any]:
    """The EMEA chat queue's live section once the floor and the forecast are both known."""

    def known() -> dict[str, Any] | None:
        live = api(port, "/api/workforce/emea-chat")["live"]
        return live if live and live["intervals"] else None

    return eventually(known, 60, "the EMEA chat floor against its forecast")


def late_delivery(event_id: str, site: str, hours_late: float) -> bytes:
    now = datetime.now(UTC)
    at, promised = (t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in (now, now - timedelta(hours=hours_late)))
    return json.dumps({
        "event_id": event_id, "event_type": "ORDER_DELIVERED", "event_time": at,
        "customer_id": f"C-{event_id}", "region": "emea", "site": site, "team": "logistics",
        "journey_stage": "delivery", "channel": "web",
        "operation": {"order_id": f"O-{event_id}", "promised_at": promised, "actual_at": at},
    }).encode()  # fmt: skip


CHANGE = """\
description: Second carrier for Amsterdam overflow; customers told of a slip by 14:00
departments: [logistics, customer-service]
regulated: true
procedure: late-delivery-handling
procedure_version: "2"
target_metrics: [csat.delivery]
failure_modes:
  - {id: wrong-labels, description: Parcels labelled for the wrong carrier, severity: 9, occurrence: 5, detection: 5}
"""


def propose_with_change(bootstrap: str, tmp_path: Path, tag: str) -> str:
    """A remediation item on Amsterdam's late deliveries with a change whose high-priority failure mode has no
    mitigation yet."""
    proposed = cxstream(["changes", "propose", "--title", f"Late deliveries from Amsterdam {tag}", "--where",
                         "region=emea", "--where", "site=ams-1", "--cause-code", "SUP-CARRIER-CAPACITY", "--severity",
                         "7", "--cost-weeks", "3", "--effect", "8", "--effect-low", "3", "--effect-high", "12",
                         "--request", "ux=1", "--request", "engineering=4", "--author", "m.jansen"],
                        bootstrap)  # fmt: skip
    assert proposed.returncode == 0, proposed.stderr
    item = proposed.stdout.split()[0]
    change = tmp_path / "change.yaml"
    change.write_text(CHANGE)
    defined = cxstream(["changes", "set-change", item, "--file", str(change), "--author", "m.jansen"], bootstrap)
    assert defined.returncode == 0, defined.stderr
    return item


def site_answers(today: Any, sites: dict[str, tuple[str, float]], days: int = 10, per_day: int = 80) -> list[bytes]:
    """Delivery CSAT at the fulfilment sites for the last ``days`` days: the locations view's funnel and charts."""
    import random

    rng = random.Random(23)
    lines = []
    for d in range(days, 0, -1):
        day = today - timedelta(days=d)
        for site, (region, share) in sites.items():
            for i in range(per_day):
                at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 86_000))
                score = rng.choice((4, 5)) if rng.random() < share else rng.choice((1, 2))
                lines.append(json.dumps({
                    "event_id": f"pg-site-{site}-{d}-{i}", "event_type": "SURVEY_RESPONSE",
                    "event_time": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "customer_id": f"C-{site}-{i}",
                    "region": region, "site": site, "team": "logistics", "journey_stage": "delivery",
                    "touchpoint": "delivery", "channel": "email",
                    "survey": {"metric": "CSAT", "score": score, "scale_min": 1, "scale_max": 5},
                }).encode())  # fmt: skip
    return lines


async def partner_reports(bootstrap: str, tag: str) -> None:
    """Two partners' reports on the late-delivery playbook's notify step, one of them critical."""
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    reports = [
        {"feedback_id": f"pg-{tag}-1", "partner": "manila-cx", "playbook": "late-delivery-handling", "version": "2",
         "step": "notify", "issue": "The SMS notice goes out after our evening shift has left",
         "suggestion": "Send the notice at 15:00 local time", "severity": "critical", "submitted_at": at},
        {"feedback_id": f"pg-{tag}-2", "partner": "swiftline", "site": "ams-1", "playbook": "late-delivery-handling",
         "step": "notify", "issue": "Customers call before the notice arrives", "severity": "medium",
         "submitted_at": at},
    ]  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for report in reports:
            await producer.send_and_wait("cx.raw.partners", json.dumps(report).encode(),
                                         key=str(report["feedback_id"]).encode())  # fmt: skip
    finally:
        await producer.stop()


def support_ratings(tag: str, customers: int) -> list[bytes]:
    """One support rating per customer for the page's experiment (both arms alike)."""
    import random

    rng = random.Random(31)
    when = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [json.dumps({
        "event_id": f"pg-xp-{tag}-{i}", "event_type": "SURVEY_RESPONSE", "event_time": when,
        "customer_id": f"C-xp-{tag}-{i}", "region": "emea", "site": "lis-1", "team": "customer-service",
        "journey_stage": "support", "touchpoint": "ticket", "channel": "email",
        "survey": {"metric": "CSAT", "score": rng.choice((1, 4, 5, 5)), "scale_min": 1, "scale_max": 5},
    }).encode() for i in range(customers)]  # fmt: skip


def api_post(port: int, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    from tests.integration.test_warroom import call

    return call(port, path, ADMIN_TOKEN, body)


def browser_review(page: Any) -> Any:
    """The review pack the page links to, followed in the page itself (with its session cookie): the page is not
    used after it."""
    href = page.get_attribute("#review-link", "href")
    assert href and href.startswith("/review?scope=region%3Aemea&period="), href
    page.click("#review-link")
    page.wait_for_selector("h1", timeout=30_000)
    return page
