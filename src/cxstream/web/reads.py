"""The war room's reads of cases and of the routing desk, for any worker: the API and the page both use them.

Cases live in a table spread over the workers (by ``cx.case-actions`` partition); a list is this worker's cases
and the other workers' (asked with the caller's credentials, see :mod:`cxstream.web.peers`). Open breaches,
ladders and silences live in the routing desk, one table partition on one worker: a worker that does not hold
it asks the one that does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import faust

from cxstream.agents.alerting import DESK_KEY
from cxstream.agents.stores import Store
from cxstream.domain.access.principal import Principal, masked
from cxstream.domain.alerting.state import DeskState
from cxstream.domain.cases.machine import Case, StoredCase, case_record, selected
from cxstream.web.peers import ask_holders, held, holders, is_local

CASE_FILTERS = ("state", "team", "severity", "open")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def case_json(case: Case) -> dict[str, Any]:
    return {k: _iso(v) for k, v in case_record(case).items()}


def case_row(case: Case) -> dict[str, Any]:
    """A case as the API lists it: its record, with the region it concerns."""
    return {**case_json(case), "region": case.labels.get("region")}


def breach_rows(state: DeskState) -> list[dict[str, Any]]:
    """Open breaches from the routing desk's saved state, critical first, as API rows."""
    return [row.to_json() for row in state.open_breaches()]


def visible(principal: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows in the principal's scope, masked as the principal may see them."""
    return [masked(r, principal) for r in rows if principal.in_scope(r.get("region"), r.get("team"))]


def case_matches(case: Case, filters: Mapping[str, str]) -> bool:
    """The API's query parameters (``open=1``, ``state``, ``team``, ``severity``) as a case filter."""
    return selected(case, open_only=filters.get("open") in ("1", "true"), state=filters.get("state"),
                    team=filters.get("team"), severity=filters.get("severity"))  # fmt: skip


@dataclass
class Reply:
    """A status and a JSON body: what another worker answered, or what this one says."""

    status: int
    body: dict[str, Any]


class Reads:
    def __init__(self, app: faust.App, cases_table: Store[StoredCase], desk_table: Any) -> None:
        self.app = app
        self.cases_table = cases_table
        self.desk_table = desk_table  # None when alerting is off

    def desk_state(self) -> DeskState:
        """This worker's copy of the routing desk's saved state (empty when there is none)."""
        return DeskState.from_json(self.desk_table.get(DESK_KEY) if self.desk_table is not None else None)

    # --- cases ---------------------------------------------------------------------------------------------

    def held_cases(self) -> list[Case]:
        """The cases of the partitions this worker holds as their active owner (not its standby copies)."""
        mine = held(self.app, self.cases_table.table)
        return [s.case for s in self.cases_table.values() if s.partition in mine]

    def held_case(self, case_id: str) -> Case | None:
        saved = self.cases_table.get(case_id)
        if saved is None or saved.partition not in held(self.app, self.cases_table.table):
            return None
        return saved.case

    async def cases(
        self, request: Any, principal: Principal, filters: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """Cases matching ``filters`` in the principal's scope, of every worker unless the caller is one
        (``local=1``), oldest first; and ``{answered, asked}`` workers."""
        rows = visible(principal, [case_row(c) for c in self.held_cases() if case_matches(c, filters)])
        workers = {"answered": 1, "asked": 1}
        if not is_local(request):
            query = {k: v for k, v in filters.items() if k in CASE_FILTERS and v}
            answers = await ask_holders(self.app, self.cases_table.table, request, "/api/cases", query=query)
            mine = {r["case_id"] for r in rows}
            for body in answers.ok():  # filtered and masked there already
                rows += [r for r in body["cases"] if r["case_id"] not in mine]
            workers = answers.workers()
        return sorted(rows, key=lambda r: r["opened_at"]), workers

    async def case_elsewhere(self, request: Any, case_id: str, path: str, body: bytes | None = None) -> Reply:
        """The answer of the worker holding a case this worker does not hold: its own, 404 when no worker holds
        it, 503 when a worker that may hold it did not answer."""
        if is_local(request):
            return Reply(404, {"error": f"no case {case_id} on this worker"})
        answers = await ask_holders(self.app, self.cases_table.table, request, path, body=body)
        if (found := answers.found()) is not None:
            return Reply(*found)
        if answers.answered < answers.asked:
            return Reply(503, {"error": f"case {case_id}: a worker that may hold it did not answer; try again"})
        return Reply(404, {"error": f"no case {case_id}"})

    # --- the routing desk ----------------------------------------------------------------------------------

    def desk_here(self, request: Any) -> bool:
        """Whether this worker answers from its own copy of the desk: it holds it, the caller is a worker, or
        no worker holds it yet (the group is forming)."""
        if self.desk_table is None or is_local(request) or held(self.app, self.desk_table):
            return True
        return not holders(self.app, self.desk_table)

    async def desk(self, request: Any, path: str) -> Reply | None:
        """The desk's answer to ``path`` from the worker holding it, or ``None``: answer here."""
        if self.desk_here(request):
            return None
        answers = await ask_holders(self.app, self.desk_table, request, path)
        if (found := answers.found()) is not None:
            return Reply(*found)
        return Reply(503, {"error": "the worker holding the routing desk did not answer; try again"})

    async def breaches(self, request: Any, principal: Principal) -> Reply:
        """Open breaches in the principal's scope, wherever the desk is."""
        elsewhere = await self.desk(request, "/api/breaches")
        if elsewhere is not None:
            return elsewhere
        rows = visible(principal, breach_rows(self.desk_state()))
        return Reply(200, {"breaches": rows, "n": len(rows)})
