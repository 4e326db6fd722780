"""Recurring problems become remediation items: a recurring case (same customer, or same driver at the same site,
again within the window) resolved with a root-cause code proposes the item of that cause in its scope. The item
id comes from the cause and the scope, so every such case adds evidence to one item; the action id from the case,
so a case replayed proposes once."""

from __future__ import annotations

from cxstream.domain.base import digest
from cxstream.domain.cases.machine import Case, CaseState
from cxstream.domain.remediation.causes import RootCauses
from cxstream.domain.remediation.items import RECURRENCE, Action, ItemAction

SCOPE_LABELS = ("region", "site")
SEVERITY_RATING = {"CRITICAL": 8, "WARNING": 5, "INFO": 3}


def item_id_for(cause_code: str, scope: dict[str, str]) -> str:
    where = "|".join(f"{k}={scope[k]}" for k in sorted(scope))
    return f"rem-{digest(f'{cause_code}|{where}')}"


def proposal_for(before: Case | None, after: Case, causes: RootCauses, at_ms: int) -> Action | None:
    """The PROPOSE action a case change calls for: when the case has just become resolved-and-recurring with a
    known cause code (resolved while flagged, or flagged after it was resolved)."""

    def due(case: Case | None) -> bool:
        return case is not None and case.recurring and case.state is CaseState.RESOLVED and bool(case.root_cause_code)

    if not due(after) or due(before) or after.root_cause_code is None:
        return None
    code = causes.find(after.root_cause_code)
    if code is None:
        return None
    scope = {k: after.labels[k] for k in SCOPE_LABELS if after.labels.get(k)}
    where = ", ".join(f"{k} {v}" for k, v in scope.items()) or "all regions"
    return Action(
        action_id=f"prop-{digest(f'{after.case_id}|{code.code}')}",
        item_id=item_id_for(code.code, scope),
        action=ItemAction.PROPOSE,
        actor=RECURRENCE,
        at_ms=at_ms,
        title=f"{code.display} ({where})",
        source="recurrence",
        cause_code=code.code,
        labels=scope,
        severity=SEVERITY_RATING.get(after.severity, 5),
        comment=f"recurring case {after.case_id} resolved: {after.root_cause_category or code.display}",
    )
