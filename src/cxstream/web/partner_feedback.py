"""Partner feedback over HTTP, from this worker's copy of ``cx.partner-feedback`` (every worker reads it whole):

* ``GET /api/partner-feedback?playbook=&chart=svg`` - per playbook step: the reports counted towards a revision
  (the current version, within the window) by severity, partner and site, the versions partners named, the
  latest reports with their suggestions, whether a revision is due and why, and the remediation item and
  governance proposal it opened (``chart=svg``: the steps as stacked bars with the rule's report count).

Feedback itself arrives like any source: ``POST /ingest/partners`` with the ingest token, or ``cxstream import
--source partners FILE``. A regional token sees the reports of its region's sites; whether a revision is due is
decided on every report.
"""

from __future__ import annotations

from typing import Any

import faust

from cxstream.agents.partner_feedback import FeedbackFeed
from cxstream.agents.remediation_feed import RemediationFeed
from cxstream.domain.base import now_ms
from cxstream.domain.locations.playbooks import Playbooks
from cxstream.domain.locations.views import rule_json, step_json
from cxstream.web.auth import Denied, Gate, refuse
from cxstream.web.feedback_chart import StepBar, feedback_chart


def register(app: faust.App, gate: Gate, spec: Playbooks, feed: FeedbackFeed, backlog: RemediationFeed | None,
             proposals: Any) -> None:  # fmt: skip
    """``proposals``: the governance feed (``web.governance.GovernanceFeed``) or None."""

    @app.page("/api/partner-feedback")
    async def partner_feedback(view: Any, request: Any) -> Any:
        try:
            principal = gate.principal(request)
        except Denied as denied:
            return refuse(view, denied)
        playbook = request.query.get("playbook") or None
        if playbook is not None and spec.playbook(playbook) is None:
            return view.json({"error": f"no playbook {playbook}"}, status=404)
        at = now_ms()

        def wanted(report: Any) -> bool:
            return playbook is None or report.playbook == playbook

        every = {(s.playbook, s.step): s for s in feed.book.steps(spec, at, wanted)}
        shown = feed.book.steps(spec, at, lambda r: wanted(r) and principal.in_scope(r.region, None))
        states: dict[str, str] = {}
        if backlog is not None:
            states.update({i.item_id: i.state.value for i in backlog.backlog.items.values()})
        if proposals is not None:
            states.update({p.proposal_id: p.state.value for p in proposals.register.proposals.values()})
        body: dict[str, Any] = {
            "ready": feed.ready, "rule": rule_json(spec.feedback), "reports": sum(s.reports for s in shown),
            "steps": [step_json(s, every.get((s.playbook, s.step)), states) for s in shown],
        }  # fmt: skip
        if request.query.get("chart") == "svg":
            names = {p.id: p.display for p in spec.playbooks}
            bars = [StepBar(f"{names.get(s.playbook, s.playbook)} / {s.step}", s.severities, len(s.partners),
                            len(s.sites), every[(s.playbook, s.step)].due) for s in shown]  # fmt: skip
            body["chart"] = feedback_chart("Partner feedback per playbook step (current version, last "
                                           f"{spec.feedback.window})", bars, spec.feedback.reports)  # fmt: skip
        return view.json(body)
