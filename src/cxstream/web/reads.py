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
from cxstream.domain.alerting.state import DeskState, OpenBreach
from cxstream.domain.base import obj, seq
from cxstream.domain.cases.machine import Case, StoredCase, case_from_record, case_record, selected
from cxstream.web.peers import ask_holders, held, holders, is_local

CASE_FILTERS = ("state", "team", "severity", "open")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def case_json(case: Case) -> dict[str, Any]:
    return {k: _iso(v) for k, v in case_record(case).items()}


def case_row(case: Case) -> dict[str, Any]:
    """A case as the API lists it: its record, with the region it concerns."""
    return {**case_json(case), "region": case.labels.get("region")}


def case_from_row(row: object) -> Case:
    """A case as another worker listed it (:func:`case_row`, masked there for the caller)."""
    value = obj(row, "case row")
    record = {k: datetime.fromisoformat(v) if k.endswith("_at") and isinstance(v, str) else v
              for k, v in value.items() if k != "region"}  # fmt: skip
    return case_from_record(record)


def case_in_scope(principal: Principal, case: Case) -> bool:
    return principal.in_scope(case.labels.get("region"), case.team)


def breach_in_scope(principal: Principal, breach: OpenBreach) -> bool:
    return principal.in_scope(breach.region, breach.team)


def case_rows(principal: Principal, cases: list[Case]) -> list[dict[str, Any]]:
    """Cases as the API lists them to the principal: masked as it may see them."""
    return [masked(case_row(c), principal) for c in cases]


def breach_rows(principal: Principal, breaches: list[OpenBreach]) -> list[dict[str, Any]]:
    return [masked(b.to_json(), principal) for b in breaches]


@dataclass(frozen=True)
class OpenBreaches:
    """The open breaches in a principal's scope, or why they could not be had (the desk's worker's answer)."""

    found: list[OpenBreach]
    failure: Reply | None = None


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
    ) -> tuple[list[Case], dict[str, int]]:
        """Cases matching ``filters`` in the principal's scope, of every worker unless the caller is one
        (``local=1``), oldest first; and ``{answered, asked}`` workers. The other workers' are masked for the
        principal already; mask this worker's when showing them (:func:`case_rows`)."""
        found = [c for c in self.held_cases() if case_matches(c, filters) and case_in_scope(principal, c)]
        workers = {"answered": 1, "asked": 1}
        if not is_local(request):
            query = {k: v for k, v in filters.items() if k in CASE_FILTERS and v}
            answers = await ask_holders(self.app, self.cases_table.table, request, "/api/cases", query=query)
            mine = {c.case_id for c in found}
            for body in answers.ok():  # filtered and masked there already
                theirs = [case_from_row(row) for row in seq(body.get("cases"), "cases")]
                found += [c for c in theirs if c.case_id not in mine]
            workers = answers.workers()
        return sorted(found, key=lambda c: c.opened_ms), workers

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

    async def breaches(self, request: Any, principal: Principal) -> OpenBreaches:
        """Open breaches in the principal's scope, critical first, wherever the desk is."""
        elsewhere = await self.desk(request, "/api/breaches")
        if elsewhere is None:
            return OpenBreaches([b for b in self.desk_state().open_breaches() if breach_in_scope(principal, b)])
        if elsewhere.status != 200:
            return OpenBreaches([], elsewhere)
        return OpenBreaches([OpenBreach.from_json(row) for row in seq(elsewhere.body.get("breaches"), "breaches")])
