"""``cxstream status`` output from a worker's /status JSON, and its exit codes."""

from __future__ import annotations

from cxstream.cli import main
from cxstream.cli.status import render

STATE = {
    "app_id": "cxstream", "ready": False,
    "checks": {"broker": {"ok": True, "detail": "3 broker(s)"},
               "tables_recovered": {"ok": False, "detail": "recovering"}},
    "recovery": {"completed": False, "active_remaining": 1200, "standby_remaining": 0},
    "assigned_partitions": 2,
    "consumer_lag": [
        {"topic": "cx.events", "partition": 0, "highwater": 500, "committed": 480, "lag": 20},
        {"topic": "cx.events", "partition": 1, "highwater": 300, "committed": 300, "lag": 0},
    ],
    "tables": {"cxstream-cases": 4},
    "last_breach": {"breach_id": "br-1", "status": "FIRING", "severity": "CRITICAL", "rule": "csat.delivery.low",
                    "at_ms": 1795773630000},
}  # fmt: skip


def test_status_says_what_is_wrong_and_where_the_backlog_is() -> None:
    lines = render(STATE, show_all=False)
    assert lines[0] == "worker cxstream: NOT READY (broker: 3 broker(s); tables_recovered: recovering)"
    assert lines[1] == "recovery: in progress; changelog records to apply: 1200 active, 0 standby"
    assert lines[2] == "consumer lag: 20 records over 2 assigned source partitions (most: 20 on cx.events/0)"
    assert sum(line.startswith("  cx.events/") for line in lines) == 1  # partitions not behind only with --all
    assert sum(line.startswith("  cx.events/") for line in render(STATE, show_all=True)) == 2
    assert lines[-2] == "tables: cxstream-cases 4 keys"
    assert lines[-1] == "last breach: br-1 FIRING CRITICAL csat.delivery.low at 2026-11-27 10:00:30 UTC"


def test_no_worker_answering_exits_2(capsys: object) -> None:
    assert main(["status", "--url", "http://127.0.0.1:9/status", "--timeout", "2"]) == 2


def test_status_says_why_partitions_and_breaches_are_missing() -> None:
    """Changelog partitions are counted apart (they are read, never committed); no breach is explained by
    where the routing side runs, not guessed."""
    state = {**STATE, "changelog_partitions": 17, "last_breach": None, "routing_here": False}
    lines = render(state, show_all=False)
    assert "(and 17 changelog partitions, read only to rebuild tables)" in lines[2]
    assert lines[-1] == "last breach: the routing side runs on another worker (it holds the alerting control partition)"
    assert render({**state, "routing_here": True}, show_all=False)[-1] == "last breach: none seen yet"
