"""The war room as a wall screen, in a real browser (Debian's headless Chromium via playwright), during a seeded
incident: EMEA's delivery CSAT far under its critical level (a threshold breach) and three customers threatening
to leave there (hot alerts of one rule). At 1920x1080 and at 3840x2160: nothing overflows the screen, no text is
under 24 px (at 1080p; twice that at 2160p), the systemic breach is listed above every hot alert, the hot alerts
are one row with their count, and every trend of a metric with levels draws its warning and critical lines.
Screenshots are kept in test-artifacts/ (the README shows the 1080p one)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cxstream.kafka.embedded import free_port
from tests.integration.procs import ROOT, eventually, http_get, ready, spawn, stop
from tests.integration.test_breaches import answers, breaches, produce
from tests.integration.test_metrics import ADMIN_TOKEN, iso, worker_env
from tests.integration.test_page import BROWSER_ARGS
from tests.integration.test_warroom import complaint

pytestmark = pytest.mark.integration
ARTIFACTS = ROOT / "test-artifacts"

#: Every visible text's size in CSS pixels as the screen shows it: HTML text by its computed font size, SVG
#: text by its font size times the chart's scale (its drawn width over its viewBox width); and whether it lies
#: inside the viewport.
MEASURE = (Path(__file__).parent / "measure_screen.js").read_text()


def api(port: int, path: str) -> dict[str, Any]:
    code, body = http_get(f"http://127.0.0.1:{port}{path}", token=ADMIN_TOKEN)
    assert code == 200, body
    return dict(json.loads(body))


def current_answers(region: str, site: str, scores: list[int], tag: str) -> list[bytes]:
    """Answers of the last minutes: the tiles' current windows have values."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    return [json.dumps({
        "event_id": f"{tag}-now-{region}-{i}", "event_type": "SURVEY_RESPONSE", "event_time": iso(now),
        "customer_id": f"C-{region}-{i}", "region": region, "site": site, "team": "logistics",
        "journey_stage": "delivery", "touchpoint": "delivery", "channel": "email",
        "survey": {"metric": "CSAT", "score": score, "scale_min": 1, "scale_max": 5},
    }).encode() for i, score in enumerate(scores)]  # fmt: skip


def test_the_wall_screen_fits_reads_from_across_the_room_and_puts_the_systemic_breach_first(
    bootstrap: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `make test` installs it (Debian package chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    worker = spawn(["worker"], worker_env(bootstrap, port, f"cxstream-wall-{uuid.uuid4().hex[:8]}",
                                          tmp_path / "data"), tmp_path / "worker.log")  # fmt: skip
    try:
        eventually(lambda: worker.poll() is None and ready(port), 180, "the worker to be ready")
        tag = uuid.uuid4().hex[:6]
        records = answers("emea", "ams-1", [5] * 12 + [1] * 108, tag) + answers("amer", "chi-1", [5] * 100, tag)
        records += current_answers("emea", "ams-1", [1] * 30 + [5] * 10, tag)
        records += current_answers("amer", "chi-1", [5] * 34 + [2] * 6, tag)
        records += current_answers("apac", "sin-1", [4] * 30 + [1] * 5, tag)
        records += [complaint(f"wall-hot-{tag}-{i}", f"C-{tag}-{i}", "emea", "ams-1") for i in range(3)]
        asyncio.run(produce(bootstrap, records))
        eventually(lambda: [b for b in breaches(bootstrap) if b["status"] == "FIRING" and b["kind"] != "HOT_ALERT"],
                   180, "the threshold breach")  # fmt: skip

        def incident() -> dict[str, Any] | None:
            room = api(port, "/api/warroom?screen=wall")
            hot = [g for g in room["hot_alert_groups"] if g["count"] >= 3]
            systemic = [b for b in room["breaches"] if b["kind"] != "HOT_ALERT"]
            return room if hot and systemic else None

        room = eventually(incident, 120, "the breach and the three hot alerts in the snapshot")
        # the breach reads the last ended hour: the 120 answers of 20 minutes ago, and the 40 of a minute ago too
        # once a 5-minute mark has passed since they were produced
        first = room["breaches"][0]
        assert first["kind"] != "HOT_ALERT" and re.search(r"\(n=(120|160),", first["reading"]), first["reading"]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=BROWSER_ARGS)
            try:
                for width, height, least in ((1920, 1080, 23.5), (3840, 2160, 47.0)):
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(f"http://127.0.0.1:{port}/?screen=wall#token={ADMIN_TOKEN}")
                    page.wait_for_selector("#conn.live", timeout=30_000)
                    page.wait_for_selector(".row.hot", timeout=30_000)
                    eventually(lambda page=page: page.query_selector_all(".tile svg line.level"), 30, "levels")
                    shown = page.evaluate(MEASURE)
                    page.screenshot(path=str(ARTIFACTS / f"warroom-wall-{width}x{height}.png"))
                    assert shown["scrollHeight"] <= height and shown["scrollWidth"] <= width, shown
                    outside = [t for t in shown["texts"] if not t["inside"]]
                    assert not outside, outside[:5]
                    small = [t for t in shown["texts"] if t["px"] < least]
                    assert not small, small[:8]
                    rows = page.query_selector_all("#breaches .row")
                    kinds = [r.get_attribute("class") for r in rows]
                    assert kinds[0] == "row breach", kinds  # the systemic breach on top
                    first_hot = kinds.index("row hot")
                    assert all(k != "row breach" for k in kinds[first_hot:]), kinds
                    grouped = page.query_selector(".row.hot")
                    assert grouped is not None and int(grouped.get_attribute("data-count") or 0) >= 3
                    assert grouped.inner_text().startswith("3")  # the count leads the row
                    for tile in page.query_selector_all(".tile"):
                        definition = tile.get_attribute("data-definition")
                        if tile.query_selector("svg") is None:
                            continue
                        levels = {e.get_attribute("class") for e in tile.query_selector_all("svg line.level")}
                        assert "level level-critical" in levels, (definition, levels)
                    page.close()
            finally:
                browser.close()
    finally:
        code = stop(worker, signal.SIGTERM)
    assert code == 0
