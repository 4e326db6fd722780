"""The war room's reads without a web server: how other workers' answers are counted, which cases a filter
keeps, the desk's breaches, and the page's snapshot (scope, masking, red regions, what the data covers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cxstream.config.topology import load_topology
from cxstream.domain.access.principal import MASK, Principal, Role
from cxstream.domain.alerting.state import Acknowledgement, DeskState, LadderKey, LadderStep, OpenBreach
from cxstream.domain.cases.machine import Case, CaseState, selected
from cxstream.serde.catalog import SchemaCatalog
from cxstream.settings import load_settings
from cxstream.web.peers import Answers
from cxstream.web.reads import breach_rows, case_from_row, case_matches, case_rows
from cxstream.web.warroom_view import snapshot

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ADMIN = Principal("ops", Role.ADMIN)
WALL = Principal("wall", Role.VIEWER, frozenset({"emea"}))


def test_answers_count_who_answered_and_find_the_holder() -> None:
    answers = Answers([(404, {"error": "no case"}), (200, {"case_id": "case-1"})], asked=3)
    assert answers.answered == 2 and answers.workers() == {"answered": 3, "asked": 4}
    assert answers.workers(local=False) == {"answered": 2, "asked": 3}
    assert answers.found() == (200, {"case_id": "case-1"}) and answers.ok() == [{"case_id": "case-1"}]
    assert Answers([(404, {})], asked=1).found() is None
    assert Answers([(409, {"rule": "case.transition"})], asked=1).found() == (409, {"rule": "case.transition"})


class _Case:
    def __init__(self, state: CaseState, team: str = "logistics", severity: str = "CRITICAL") -> None:
        self.state, self.team, self.severity = state, team, severity


def test_case_filters() -> None:
    resolved, open_ = _Case(CaseState.RESOLVED), _Case(CaseState.OPEN, severity="WARNING")
    assert case_matches(resolved, {}) and not case_matches(resolved, {"open": "1"})
    assert case_matches(open_, {"open": "true", "team": "logistics"})
    assert not case_matches(open_, {"severity": "CRITICAL"}) and not case_matches(open_, {"team": "cx-operations"})
    assert case_matches(open_, {"state": "OPEN", "local": "1"})  # other query parameters are not filters
    # the same rule as `cxstream cases list [--all] [--team T]`
    assert selected(resolved, team="logistics") and not selected(resolved, open_only=True)
    assert not selected(open_, team="billing")


def desk() -> DeskState:
    hot = {"kind": "HOT_ALERT", "severity": "CRITICAL", "owner": "cx-operations", "region": "apac",
           "customer_id": "C-9", "rule": "hot.cancel"}  # fmt: skip
    low = {"kind": "THRESHOLD", "severity": "WARNING", "owner": "logistics", "region": "amer", "rule": "csat"}
    crit = {"kind": "THRESHOLD", "severity": "CRITICAL", "owner": "logistics", "region": "emea", "rule": "csat"}
    return DeskState(
        alerts={"br-b": low, "br-c": hot, "br-a": crit},
        ladders={LadderKey("logistics", "br-a"): LadderStep("critical", 1, 0, "logistics", "g"),
                 LadderKey("logistics-lead", "br-a"): LadderStep("critical", 2, 0, "logistics-lead", "g")},
        acked={"br-b": Acknowledgement("s.logistics", 0, 0)},
        summaries={"br-c": "Detractor: 'I am cancelling'"},
    )  # fmt: skip


def test_breach_rows_critical_first_with_the_highest_ladder_step() -> None:
    breaches = desk().open_breaches()
    rows = breach_rows(ADMIN, breaches)
    assert [r["breach_id"] for r in rows] == ["br-a", "br-c", "br-b"]
    assert rows[0]["ladder_level"] == 2 and rows[0]["case_id"].startswith("case-")
    assert rows[2]["acknowledged_by"] == "s.logistics" and rows[1]["summary"].startswith("Detractor")
    assert DeskState.from_json(desk().to_json()) == desk()  # the table's JSON reads back to the same state
    assert [OpenBreach.from_json(r) for r in rows] == breaches  # what another worker lists reads back the same
    assert breach_rows(WALL, breaches)[1]["summary"] == MASK  # a hot alert's summary quotes the customer


def test_a_case_listed_by_another_worker_reads_back_the_same() -> None:
    case = Case("case-1", "cx-operations", "CRITICAL", CaseState.ACKNOWLEDGED, opened_ms=1_795_773_600_000,
                acknowledge_due_ms=1_795_773_900_000, resolve_due_ms=1_795_780_800_000, updated_ms=1_795_773_700_000,
                breach_id="br-1", labels={"region": "apac", "customer_id": "C-9"}, acknowledged_ms=1_795_773_650_000,
                assignee="s.cxops", overdue=("acknowledge",), ladder_level=1, version=3)  # fmt: skip
    [row] = case_rows(ADMIN, [case])
    assert case_from_row(row) == replace(case, applied=())  # the applied action ids stay in the table
    [masked_row] = case_rows(WALL, [case])
    assert case_from_row(masked_row).labels["customer_id"] == MASK


def test_snapshot_shows_the_principals_scope_and_what_the_data_covers() -> None:
    settings = load_settings()
    topology = load_topology(settings.topology_dir, SchemaCatalog.from_dir(settings.schema_dir).names())
    regions = topology.reference.regions
    rows = desk().open_breaches()
    due = int((NOW + timedelta(minutes=5)).timestamp() * 1000)
    case = Case("case-1", "cx-operations", "CRITICAL", CaseState.OPEN, opened_ms=due - 600_000, acknowledge_due_ms=due,
                resolve_due_ms=due + 3_600_000, updated_ms=due - 600_000,
                labels={"customer_id": "C-9", "region": "apac"})  # fmt: skip
    coverage = {"held": 3, "total": 6, "workers": {"answered": 1, "asked": 2}, "cases": {"answered": 1, "asked": 2},
                "breaches": True}  # fmt: skip
    room = snapshot(topology.metrics, topology.alerting, regions, [], rows, [case], ADMIN, NOW, coverage)
    assert room["coverage"] == coverage  # a partial answer says so
    assert {r["region"] for r in room["regions"]} == set(regions)
    assert {r["region"]: r["status"] for r in room["regions"]}["emea"] == "critical"  # critical threshold breach
    assert {r["region"]: r["status"] for r in room["regions"]}["apac"] == "ok"  # a hot alert does not paint it
    assert all(t["status"] == "insufficient" and t["estimate"]["n"] == 0 for t in room["tiles"])
    assert room["cases"][0]["labels"]["customer_id"] == "C-9"
    wall = snapshot(topology.metrics, topology.alerting, regions, [], rows, [case], WALL, NOW, coverage)
    assert [r["region"] for r in wall["regions"]] == ["emea"] and {t["region"] for t in wall["tiles"]} == {"emea"}
    assert [b["breach_id"] for b in wall["breaches"]] == ["br-a"] and wall["cases"] == []
    emea_case = replace(case, labels={"customer_id": "C-9", "region": "emea"})
    mixed = snapshot(topology.metrics, topology.alerting, regions, [], rows, [emea_case], WALL, NOW, coverage)
    assert mixed["cases"][0]["labels"]["customer_id"] == MASK


def test_screens_of_one_token_share_a_snapshot() -> None:
    import asyncio

    from cxstream.web.page import Shared

    made: list[int] = []

    async def make() -> dict[str, Any]:
        made.append(1)
        await asyncio.sleep(0)
        return {"at": len(made)}

    async def fail() -> dict[str, Any]:
        raise ConnectionError("a worker went away")

    async def scenario() -> None:
        shared = Shared(ttl=3600)
        first, second = await asyncio.gather(shared.get(ADMIN, make), shared.get(ADMIN, make))
        assert first == second == {"at": 1} and len(made) == 1
        first.pop("at")  # each screen gets its own copy
        assert await shared.get(ADMIN, make) == {"at": 1}
        assert await shared.get(WALL, make) == {"at": 2}  # another token: its own snapshot
        expired = Shared(ttl=0)
        assert await expired.get(ADMIN, make) == {"at": 3} and await expired.get(ADMIN, make) == {"at": 4}
        failing = Shared(ttl=3600)
        with pytest.raises(ConnectionError):
            await failing.get(ADMIN, fail)
        assert await failing.get(ADMIN, make) == {"at": 5}  # a failure is not kept

    asyncio.run(scenario())


def test_a_team_scoped_token_sees_on_the_war_room_what_the_metric_api_answers_it() -> None:
    from cxstream.domain.access.principal import OutOfScope
    from cxstream.domain.ingest.events import SurveyMetric
    from cxstream.domain.metrics.windows import read_window
    from tests.unit.test_metrics import cells_of, survey, table_after

    settings = load_settings()
    topology = load_topology(settings.topology_dir, SchemaCatalog.from_dir(settings.schema_dir).names())
    spec = topology.metrics
    now = NOW.replace(hour=10, minute=2, second=30)  # the events of test_metrics are ten minutes before this
    logistics = [(survey(SurveyMetric.CSAT, 1, region="amer", team="logistics", event_id=f"l{i}"), 0, i)
                 for i in range(40)]  # fmt: skip
    support = [(survey(SurveyMetric.CSAT, 5, region="amer", team="customer-service", event_id=f"s{i}"), 1, i)
               for i in range(12)]  # fmt: skip
    cells = cells_of(table_after(logistics + support, spec))
    supervisor = Principal("s.support", Role.SUPERVISOR, frozenset({"amer"}), frozenset({"customer-service"}))
    coverage: dict[str, Any] = {}
    room = snapshot(spec, topology.alerting, ("amer", "emea"), cells, [], [], supervisor, now, coverage)
    tile = next(t for t in room["tiles"] if t["definition"] == "csat.delivery")
    assert {t["region"] for t in room["tiles"]} == {"amer"}
    assert tile["estimate"]["n"] == 12  # customer-service's answers only, not logistics' 40
    api = read_window(spec, cells, "csat.delivery", tile["window"], now=now,
                      where=supervisor.narrow({}, spec.definition("csat.delivery").dimensions))  # fmt: skip
    assert api.estimate is not None and api.estimate.n == tile["estimate"]["n"]
    admin = snapshot(spec, topology.alerting, ("amer",), cells, [], [], ADMIN, now, coverage)
    assert next(t for t in admin["tiles"] if t["definition"] == "csat.delivery")["estimate"]["n"] == 52
    with pytest.raises(OutOfScope, match="not kept by team"):
        supervisor.narrow({}, ("region", "site"))  # a metric that cannot be cut to the token's team is refused
