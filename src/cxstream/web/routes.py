"""Every HTTP route a worker serves, with who may call it: the one list the security model is checked against.

A worker serves these routes and no other: Faust's own web views (``/router/``, ``/table/``, statistics,
``/graph/``, the production index) are not mounted (:class:`OwnRoutesOnly`), since they answer table
contents and partition assignments without a token. A test builds the worker's web server and fails on any
route missing here, and the access test on a live worker probes every route listed here.

* ``PUBLIC`` routes answer without a token and carry operational state only: never a customer id, an account
  id or a customer's words (probes, scrapers and load balancers call them);
* ``TOKEN`` routes need an API token (``Authorization: Bearer``, or the page's session cookie); what they
  answer is limited to the token's regions and teams and masked for its role (:mod:`cxstream.domain.access`);
* ``INGEST`` routes need the ingest token (``CXSTREAM_INGEST_TOKEN``) a source's webhook sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from faust.web.drivers.aiohttp import Web

from cxstream.domain.access.throttle import FailedLogins
from cxstream.web import security


class Door(StrEnum):
    PUBLIC = "public"
    TOKEN = "token"
    INGEST = "ingest"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    door: Door
    what: str


ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", Door.PUBLIC, "liveness"),
    Route("GET", "/readyz", Door.PUBLIC, "readiness, with the check that failed"),
    Route("GET", "/metrics", Door.PUBLIC, "Prometheus metrics"),
    Route("GET", "/status", Door.PUBLIC, "lag, table sizes, the last breach's id and severity"),
    Route("GET", "/openapi.json", Door.PUBLIC, "the API's description"),
    Route(
        "GET",
        "/",
        Door.PUBLIC,
        "the war-room page (a static file; its data comes from the token routes); ?screen=wall for a wall screen",
    ),
    Route("GET", "/favicon.svg", Door.PUBLIC, "the page's icon"),
    Route("GET", "/api/me", Door.TOKEN, "the token's holder, role and scope"),
    Route("POST", "/api/session", Door.TOKEN, "a session cookie for the page, for a token"),
    Route("DELETE", "/api/session", Door.PUBLIC, "log out: the page's session cookie is cleared"),
    Route("GET", "/api/warroom", Door.TOKEN, "the war-room snapshot"),
    Route("GET", "/api/stream", Door.TOKEN, "the war-room snapshot as Server-Sent Events"),
    Route("GET", "/api/metrics", Door.TOKEN, "the metric catalog"),
    Route(
        "GET",
        "/api/metrics/{definition}/{window}",
        Door.TOKEN,
        "one window of one metric; window 'history': closed days merged into weeks, months, quarters or years",
    ),
    Route("GET", "/api/metrics/{definition}/{window}/history", Door.TOKEN, "past windows of one metric"),
    Route("GET", "/api/workforce", Door.TOKEN, "the staffing queues the token reads, with their targets"),
    Route(
        "GET",
        "/api/workforce/{queue_id}",
        Door.TOKEN,
        "one queue's forecast, agents needed per interval and the forecast's accuracy",
    ),
    Route(
        "GET",
        "/api/workforce/{queue_id}/quality",
        Door.TOKEN,
        "the cost of quality: CSAT against handle time of complex contacts, and the staffing cost of more time",
    ),
    Route("GET", "/api/calendar", Door.TOKEN, "planned trainings and changes, each checked against the forecast"),
    Route("GET", "/api/scorecards", Door.TOKEN, "a team's agents' CX scorecards, incentive index and coaching flags"),
    Route("GET", "/api/remediation", Door.TOKEN, "the remediation backlog by priority, with verdicts"),
    Route("GET", "/api/remediation/procedures", Door.TOKEN, "which procedure version each site or team runs"),
    Route("GET", "/api/remediation/allocation", Door.TOKEN, "shared capacity allocated by risk-adjusted value"),
    Route("GET", "/api/remediation/pareto", Door.TOKEN, "a Pareto of drivers, case root causes or failures"),
    Route("GET", "/api/remediation/trees", Door.TOKEN, "the declared fault trees"),
    Route("GET", "/api/remediation/trees/{tree_id}", Door.TOKEN, "one fault tree on live evidence"),
    Route("POST", "/api/remediation/items", Door.TOKEN, "propose a remediation item"),
    Route(
        "GET",
        "/api/remediation/items/{item_id}",
        Door.TOKEN,
        "one remediation item: FMEA, approvals, trail, Pareto, pre/post comparisons",
    ),
    Route("POST", "/api/remediation/items/{item_id}/actions", Door.TOKEN, "an action on a remediation item"),
    Route("GET", "/api/governance", Door.TOKEN, "scaling proposals with their votes and decisions"),
    Route("POST", "/api/governance", Door.TOKEN, "a scaling proposal to a committee"),
    Route("GET", "/api/governance/{proposal_id}", Door.TOKEN, "one proposal: evidence, votes, decision, trail"),
    Route("POST", "/api/governance/{proposal_id}/actions", Door.TOKEN, "a vote, comment or withdrawal"),
    Route("GET", "/api/playbooks", Door.TOKEN, "the playbooks and the version each site runs (the rollout map)"),
    Route("GET", "/api/experiments", Door.TOKEN, "the experiments, their state and the decision so far"),
    Route("POST", "/api/experiments", Door.TOKEN, "start an experiment"),
    Route("GET", "/api/experiments/{experiment_id}", Door.TOKEN, "one experiment's arms, intervals and decision"),
    Route("POST", "/api/experiments/{experiment_id}/stop", Door.TOKEN, "stop an experiment, saying why"),
    Route("GET", "/api/audits", Door.TOKEN, "each audit's periods per scope against the standard, with drifts"),
    Route("GET", "/review", Door.TOKEN, "the CX review pack of a scope and period, one self-contained HTML page"),
    Route("GET", "/api/targets", Door.TOKEN, "CX targets: the version in force, proposals, every version"),
    Route("GET", "/api/plateaus", Door.TOKEN, "a metric's weekly trend, level shifts and plateau verdict"),
    Route("GET", "/api/impact", Door.TOKEN, "a change's effect adjusted by control scopes, beside the pre/post"),
    Route("GET", "/api/tolerance", Door.TOKEN, "how satisfaction falls with an operational value; tolerance points"),
    Route("GET", "/api/thresholds", Door.TOKEN, "levels and SLAs in force with their origin; proposals per scope"),
    Route("GET", "/api/handovers", Door.TOKEN, "the latest shift handovers of the token's teams"),
    Route("GET", "/api/handovers/{handover_id}", Door.TOKEN, "one shift handover"),
    Route("POST", "/api/handovers/{handover_id}/ack", Door.TOKEN, "the incoming supervisor acknowledges a handover"),
    Route("GET", "/api/partner-feedback", Door.TOKEN, "partners' feedback per playbook step, and the revisions due"),
    Route("GET", "/api/playbooks/{playbook_id}", Door.TOKEN, "a playbook as a site runs it, and its waves' spread"),
    Route("GET", "/api/sites", Door.TOKEN, "the locations, the metrics compared and the noise budget"),
    Route("GET", "/api/sites/funnel", Door.TOKEN, "one metric's funnel plot of the locations on a closed day"),
    Route("GET", "/api/sites/{site}/chart", Door.TOKEN, "one location's control chart with the Nelson rules named"),
    Route("GET", "/api/peer/cells", Door.TOKEN, "this worker's metric cells, for the other workers"),
    Route("GET", "/api/breaches", Door.TOKEN, "open breaches"),
    Route("GET", "/api/silences", Door.TOKEN, "active and pending silences"),
    Route("GET", "/api/cases", Door.TOKEN, "cases"),
    Route("GET", "/api/cases/{case_id}", Door.TOKEN, "one case"),
    Route("POST", "/api/cases/{case_id}/actions", Door.TOKEN, "an action on a case"),
    Route("POST", "/ingest/{source}", Door.INGEST, "records from a source's webhook"),
)


class OwnRoutesOnly(Web):
    """Faust's aiohttp web server without Faust's built-in views: only the routes cxstream declares, each answer
    with the headers of :mod:`cxstream.web.security` and repeated wrong credentials slowed down."""

    default_blueprints = ()
    production_blueprints = ()
    debug_blueprints = ()
    optional_blueprints = ()

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.logins = FailedLogins()
        security.install(self.web_app, self.logins)
