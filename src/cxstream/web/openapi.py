"""``GET /openapi.json``: the worker's HTTP API as an OpenAPI 3.0 document, built from the running topology (so
metric definitions and windows are the ones this worker serves). The contract tests run schemathesis
against it on a live worker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust

from cxstream import __version__
from cxstream.domain.history.views import Grain
from cxstream.domain.metrics.spec import DIMENSIONS, MetricsSpec
from cxstream.domain.workforce.spec import Attribution
from cxstream.web import openapi_impact, openapi_locations, openapi_remediation, openapi_shifts
from cxstream.web.warroom import POSTABLE

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


ERRORS = {
    "401": _json(_ref("Error"), "no valid API token"),
    "403": _json(_ref("Error"), "outside the token's role or scope"),
}
NULLABLE_STRING = {"type": "string", "nullable": True}
GRAINS = [g.value for g in Grain]
ATTRIBUTIONS = [a.value for a in Attribution]
NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}


def _schemas() -> dict[str, Any]:
    estimate = {
        "type": "object", "nullable": True,
        "required": ["value", "n", "insufficient", "text"],
        "properties": {
            "value": {"type": "number", "nullable": True}, "n": {"type": "integer", "minimum": 0},
            "low": {"type": "number", "nullable": True}, "high": {"type": "number", "nullable": True},
            "confidence": {"type": "number"}, "min_n": {"type": "integer"}, "unit": {"type": "string"},
            "insufficient": {"type": "boolean"}, "text": {"type": "string"},
        },
    }  # fmt: skip
    window = {
        "type": "object",
        "required": ["definition", "window", "start", "end", "final", "scope", "estimate", "top_drivers"],
        "properties": {
            "definition": {"type": "string"}, "indicator": {"type": "string"}, "window": {"type": "string"},
            "display": {"type": "string"}, "window_display": {"type": "string"}, "unit": {"type": "string"},
            "scale": {"type": "string"},
            "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
            "final": {"type": "boolean"}, "scope": {"type": "object", "additionalProperties": {"type": "string"}},
            "estimate": _ref("Estimate"), "sla": _ref("Estimate"), "easy": _ref("Estimate"),
            "top_drivers": {"type": "array", "items": {"type": "object"}},
            "partitions": _ref("Partitions"),
        },
    }  # fmt: skip
    point = {
        "type": "object",
        "required": ["start", "end", "estimate", "days_with_data", "partial", "imported"],
        "properties": {
            "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
            "estimate": _ref("Estimate"), "sla": _ref("Estimate"), "easy": _ref("Estimate"),
            "top_drivers": {"type": "array", "items": {"type": "object"}},
            "days_with_data": {"type": "integer", "minimum": 0}, "partial": {"type": "boolean"},
            "imported": {"type": "boolean"},
        },
    }  # fmt: skip
    history = {
        "type": "object",
        "required": ["definition", "grain", "period_ms", "scope", "start", "end", "coverage", "points"],
        "properties": {
            "definition": {"type": "string"}, "indicator": {"type": "string"},
            "grain": {"type": "string", "enum": GRAINS}, "period_ms": {"type": "integer"},
            "scope": {"type": "object", "additionalProperties": {"type": "string"}},
            "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
            "retention_start": {"type": "string", "format": "date-time"},
            "coverage": {"type": "object", "properties": {
                "closed_through": NULLABLE_TIME, "partitions_closed": {"type": "integer"},
                "partitions": {"type": "integer"}}},
            "points": {"type": "array", "items": point},
        },
    }  # fmt: skip
    case = {
        "type": "object",
        "required": ["case_id", "team", "state", "severity", "opened_at", "version"],
        "properties": {
            "case_id": {"type": "string"}, "breach_id": NULLABLE_STRING, "team": {"type": "string"},
            "state": {"type": "string", "enum": ["OPEN", "ACKNOWLEDGED", "ACTION_DOCUMENTED", "RESOLVED", "CLOSED",
                                                 "REOPENED"]},
            "severity": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "region": NULLABLE_STRING, "opened_at": {"type": "string", "format": "date-time"},
            "acknowledge_due_at": NULLABLE_TIME, "resolve_due_at": NULLABLE_TIME, "acknowledged_at": NULLABLE_TIME,
            "resolved_at": NULLABLE_TIME, "closed_at": NULLABLE_TIME, "assignee": NULLABLE_STRING,
            "root_cause_category": NULLABLE_STRING, "action_taken": NULLABLE_STRING, "action_owner": NULLABLE_STRING,
            "root_cause_code": NULLABLE_STRING, "recurring": {"type": "boolean"},
            "overdue": {"type": "array", "items": {"type": "string"}},
            "ladder_level": {"type": "integer"}, "version": {"type": "integer"},
            "contain_due_at": NULLABLE_TIME, "contained_at": NULLABLE_TIME, "containment": NULLABLE_STRING,
            "investigation_item": NULLABLE_STRING, "investigation_due_at": NULLABLE_TIME,
            "investigation_concluded_at": NULLABLE_TIME,
        },
    }  # fmt: skip
    breach = {
        "type": "object",
        "required": ["breach_id", "case_id", "kind", "severity", "summary", "labels", "ladder_level"],
        "properties": {
            "breach_id": {"type": "string"}, "case_id": {"type": "string"}, "kind": {"type": "string"},
            "rule": NULLABLE_STRING, "severity": {"type": "string"}, "team": NULLABLE_STRING,
            "region": NULLABLE_STRING, "summary": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "acknowledged_by": NULLABLE_STRING, "ladder_level": {"type": "integer"},
            "facts": {"type": "object", "nullable": True, "description": "the number against its level, with n "
                      "and interval, and since when it is open (threshold breaches)"},
        },
    }  # fmt: skip
    return {
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string"}, "rule": {"type": "string"}}},
        "Principal": {"type": "object", "required": ["name", "role", "regions", "teams", "pii"], "properties": {
            "name": {"type": "string"},
            "role": {"type": "string", "enum": ["viewer", "analyst", "supervisor", "admin"]},
            "regions": {"type": "array", "items": {"type": "string"}},
            "teams": {"type": "array", "items": {"type": "string"}}, "pii": {"type": "boolean"}}},
        "Partitions": {"type": "object", "required": ["held", "total", "workers"], "properties": {
            "held": {"type": "integer"}, "total": {"type": "integer"}, "workers": _ref("Workers")}},
        "Workers": {"type": "object", "required": ["answered", "asked"],
                    "properties": {"answered": {"type": "integer"}, "asked": {"type": "integer"}}},
        "Estimate": estimate,
        "StaffingQueue": {"type": "object", "required": ["id", "display", "where", "team", "model", "target"],
                          "properties": {
            "id": {"type": "string"}, "display": {"type": "string"},
            "where": {"type": "object", "additionalProperties": {"type": "string"}}, "team": {"type": "string"},
            "model": {"type": "string", "enum": ["erlang_c", "erlang_a"]}, "target": {"type": "object"},
            "live": _ref("StaffingLive")}},
        "StaffingLive": {"type": "object", "nullable": True, "description": "the queue now: the agents on its floor, "
                         "the look-ahead's intervals weighed against it, the open staffing gap",
                         "required": ["at", "floor", "intervals", "severity", "summary", "gap"], "properties": {
            "at": {"type": "string", "format": "date-time"},
            "floor": {"type": "object", "required": ["staffed", "agents", "by_status"], "properties": {
                "staffed": {"type": "integer"}, "agents": {"type": "integer"},
                "by_status": {"type": "object", "additionalProperties": {"type": "integer"}}}},
            "look_ahead_minutes": {"type": "integer"}, "insufficient": NULLABLE_STRING,
            "severity": {"type": "string", "nullable": True, "enum": ["WARNING", "CRITICAL", None]},
            "summary": {"type": "string"}, "confidence": {"type": "number"},
            "intervals": {"type": "array", "items": {"type": "object", "required": [
                "start", "end", "required", "staffed", "service_level"]}},
            "gap": {"type": "object", "nullable": True, "properties": {
                "breach_id": {"type": "string"}, "severity": NULLABLE_STRING, "since": NULLABLE_TIME}}}},
        "CalendarEntry": {"type": "object", "required": ["entry_id", "kind", "title", "queues", "agents", "starts_at",
                                                         "ends_at", "verdict", "summary", "impacts", "rules"],
                          "properties": {
            "entry_id": {"type": "string"}, "kind": {"type": "string"}, "title": {"type": "string"},
            "queues": {"type": "array", "items": {"type": "string"}}, "agents": {"type": "integer"},
            "starts_at": {"type": "string", "format": "date-time"},
            "ends_at": {"type": "string", "format": "date-time"},
            "verdict": {"type": "string", "enum": ["ok", "below_target", "refused", "unknown"]},
            "summary": {"type": "string"}, "better_start": NULLABLE_TIME,
            "impacts": {"type": "array", "items": {"type": "object"}},
            "rules": {"type": "array", "items": {"type": "object"}}}},
        "CostOfQuality": {"type": "object", "required": ["queue", "tiers", "rated", "insufficient", "bins",
                                                         "points", "currency"], "properties": {
            "queue": {"type": "string"}, "tiers": {"type": "array", "items": {"type": "string"}},
            "confidence": {"type": "number"}, "rated": {"type": "integer"},
            "current_minutes": {"type": "number", "nullable": True}, "tier_share": {"type": "number", "nullable": True},
            "insufficient": NULLABLE_STRING, "note": {"type": "string"},
            "model": {"type": "object", "nullable": True}, "bins": {"type": "array", "items": {"type": "object"}},
            "peak": {"type": "object", "nullable": True}, "hourly_cost": {"type": "number"},
            "currency": {"type": "string"}, "points": {"type": "array", "items": {"type": "object", "required": [
                "handle_minutes", "csat", "peak_agents", "monthly_cost"]}},
            "charts": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "Scorecard": {"type": "object", "required": ["team", "period", "from", "to", "attribution", "tickets",
                                                     "team_totals", "agents", "teams"], "properties": {
            "team": {"type": "string"}, "team_name": {"type": "string"}, "period": {"type": "string"},
            "from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time"},
            "attribution": {"type": "string", "enum": ATTRIBUTIONS}, "confidence": {"type": "number"},
            "tickets": {"type": "integer"}, "team_totals": {"type": "object"}, "priors": {"type": "object"},
            "weights": {"type": "object", "additionalProperties": {"type": "number"}},
            "ranking": {"type": "string"},
            "agents": {"type": "array", "items": {"type": "object", "required": [
                "agent", "csat", "ces", "fcr", "reopen", "handle_time", "index", "contributions", "flags",
                "evidence"]}},
            "teams": {"type": "array", "items": {"type": "object"}},
            "charts": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "StaffingPlan": {"type": "object", "required": ["queue", "interval_minutes", "confidence", "history",
                                                        "accuracy", "insufficient", "intervals"], "properties": {
            "queue": _ref("StaffingQueue"), "interval_minutes": {"type": "integer"},
            "confidence": {"type": "number"},
            "history": {"type": "object", "properties": {"days": {"type": "integer"}, "through": NULLABLE_TIME}},
            "accuracy": {"type": "object", "description": "backtest on the last complete days: WAPE per interval "
                         "and per day, share of actuals inside the prediction interval, with their n"},
            "insufficient": NULLABLE_STRING,
            "tiers": {"type": "array", "items": {"type": "object", "description": "a complexity tier's handle time "
                      "(minutes, with n and interval) and its share of solved tickets"}},
            "intervals": {"type": "array", "items": {"type": "object", "required": ["start", "end", "arrivals"]}},
            "live": _ref("StaffingLive"),
            "charts": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "Window": window,
        "History": history,
        "Case": case,
        "Breach": breach,
        "CaseActionRequest": {
            "type": "object", "required": ["action"],
            "properties": {
                "action": {"type": "string", "enum": list(POSTABLE)},
                **{name: {"type": "string"} for name in ("comment", "assignee", "root_cause_category",
                                                        "root_cause_code", "action_taken", "action_owner",
                                                        "outcome", "item_id")},
            },
        },
        "CaseActionAccepted": {"type": "object", "required": ["action_id", "case_id", "state"],
                               "properties": {"action_id": {"type": "string"}, "case_id": {"type": "string"},
                                              "state": {"type": "string"}}},
    }  # fmt: skip


def document(spec: MetricsSpec, located: Sequence[str] = (), pairs: Sequence[str] = (),
             rules: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
    definition = {"name": "definition", "in": "path", "required": True,
                  "schema": {"type": "string", "enum": [d.id for d in spec.definitions]}}  # fmt: skip
    window = {"name": "window", "in": "path", "required": True,
              "schema": {"type": "string", "enum": [w.id for w in spec.windows]}}  # fmt: skip
    scope = [{"name": d, "in": "query", "required": False, "schema": {"type": "string"}} for d in DIMENSIONS]
    case_id = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string"}}
    local = {
        "name": "local",
        "in": "query",
        "schema": {"type": "string", "enum": ["1"]},
        "description": "answer from this worker's partitions only (workers use it to ask each other)",
    }
    windows_not_found = _json(_ref("Error"), "unknown definition or window")
    unanswered = {"503": _json(_ref("Error"), "the worker holding it did not answer")}
    secured: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
    paths: dict[str, Any] = {
        "/api/me": {"get": {"summary": "the token's holder, role and scope", "security": secured,
                            "responses": {"200": _json(_ref("Principal"), "who you are"), **ERRORS}}},
        "/api/metrics": {"get": {"summary": "metric definitions and windows", "security": secured,
                                 "responses": {"200": _json({"type": "object"}, "the catalog"), **ERRORS}}},
        "/api/metrics/{definition}/{window}": {"get": {
            "summary": "one window of one metric, rolled up over the given dimensions", "security": secured,
            "parameters": [definition, window, *scope, local,
                           {"name": "closed", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
                           {"name": "at", "in": "query",
                            "schema": {"type": "string", "enum": ["current", "ended", "final"]}},
                           {"name": "back", "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": 500}}],
            "responses": {"200": _json(_ref("Window"), "the window"), "400": _json(_ref("Error"), "bad parameter"),
                          "404": windows_not_found, **ERRORS}}},
        "/api/metrics/{definition}/{window}/history": {"get": {
            "summary": "the last windows, newest first", "security": secured,
            "parameters": [definition, window, *scope, local,
                           {"name": "count", "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500}}],
            "responses": {"200": _json({"type": "object", "required": ["windows"], "properties": {
                "windows": {"type": "array", "items": _ref("Window")}, "partitions": _ref("Partitions")}}, "windows"),
                "400": _json(_ref("Error"), "bad parameter"), "404": windows_not_found, **ERRORS}}},
        "/api/metrics/{definition}/history": {"get": {
            "summary": "closed days of one metric merged into days, weeks, months, quarters or years (or its "
                       "declared intervals), from the metric history", "security": secured,
            "parameters": [definition, *scope,
                           {"name": "grain", "in": "query", "schema": {"type": "string", "enum": GRAINS}},
                           {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                           {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}}],
            "responses": {"200": _json(_ref("History"), "the periods, oldest first"),
                          "400": _json(_ref("Error"), "bad parameter"),
                          "404": _json(_ref("Error"), "unknown definition"),
                          "503": _json(_ref("Error"), "the history is still being read"), **ERRORS}}},
        "/api/breaches": {"get": {
            "summary": "open breaches in the token's scope, critical first", "security": secured,
            "parameters": [{"name": "severity", "in": "query", "schema": {"type": "string",
                                                                          "enum": ["INFO", "WARNING", "CRITICAL"]}},
                           local],
            "responses": {"200": _json({"type": "object", "required": ["breaches", "n"], "properties": {
                "breaches": {"type": "array", "items": _ref("Breach")}, "n": {"type": "integer"}}}, "breaches"),
                **unanswered, **ERRORS}}},
        "/api/silences": {"get": {"summary": "active and pending silences", "security": secured,
                                  "parameters": [local], "responses": {
            "200": _json({"type": "object", "required": ["silences", "n"], "properties": {
                "silences": {"type": "array", "items": {"type": "object"}}, "n": {"type": "integer"}}}, "silences"),
            **unanswered, **ERRORS}}},
        "/api/cases": {"get": {
            "summary": "cases of every worker (local=1: this worker's only), in the token's scope",
            "security": secured,
            "parameters": [*({"name": n, "in": "query", "schema": {"type": "string"}}
                             for n in ("state", "team", "severity", "open")), local],
            "responses": {"200": _json({"type": "object", "required": ["cases", "n", "workers"], "properties": {
                "cases": {"type": "array", "items": _ref("Case")}, "n": {"type": "integer"},
                "workers": _ref("Workers"),
                "partitions": {"type": "integer"}}}, "cases"), **ERRORS}}},
        "/api/cases/{case_id}": {"get": {
            "summary": "one case, answered by the worker that holds it", "security": secured,
            "parameters": [case_id, local],
            "responses": {"200": _json(_ref("Case"), "the case"), "404": _json(_ref("Error"), "no such case"),
                          **unanswered, **ERRORS}}},
        "/api/cases/{case_id}/actions": {"post": {
            "summary": "record an action on a case (supervisors: their teams' cases; admins: any)",
            "security": secured, "parameters": [case_id, local],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("CaseActionRequest")}}},
            "responses": {"202": _json(_ref("CaseActionAccepted"), "recorded on cx.case-actions"),
                          "400": _json(_ref("Error"), "not an action people may post"),
                          "404": _json(_ref("Error"), "no such case"),
                          "409": _json(_ref("Error"), "refused by the case state machine (rule)"), **unanswered,
                          **ERRORS}}},
        "/api/workforce": {"get": {
            "summary": "the staffing queues the token reads in full, with their targets and model",
            "security": secured,
            "responses": {"200": _json({"type": "object", "required": ["interval_minutes", "queues"], "properties": {
                "interval_minutes": {"type": "integer"},
                "queues": {"type": "array", "items": _ref("StaffingQueue")}}}, "queues"), **ERRORS}}},
        "/api/workforce/{queue_id}": {"get": {
            "summary": "one queue's forecast per interval (with prediction interval and accuracy), the agents and "
                       "positions needed and the queue's figures at that staffing", "security": secured,
            "parameters": [{"name": "queue_id", "in": "path", "required": True, "schema": {"type": "string"}},
                           {"name": "day", "in": "query", "schema": {"type": "string", "format": "date"}},
                           {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                      "maximum": 14}},
                           {"name": "chart", "in": "query", "schema": {"type": "string", "enum": ["svg"]}}],
            "responses": {"200": _json(_ref("StaffingPlan"), "the plan"), "400": _json(_ref("Error"), "bad parameter"),
                          "404": _json(_ref("Error"), "unknown queue"),
                          "503": _json(_ref("Error"), "the history is still being read"), **ERRORS}}},
        "/api/workforce/{queue_id}/quality": {"get": {
            "summary": "the cost of quality of a queue's complex contacts: CSAT per handle-time fifth and a logistic "
                       "curve of CSAT against handle time (an association), and per allowed handle time the agents "
                       "the busiest interval needs and the extra cost a month", "security": secured,
            "parameters": [{"name": "queue_id", "in": "path", "required": True, "schema": {"type": "string"}},
                           {"name": "chart", "in": "query", "schema": {"type": "string", "enum": ["svg"]}}],
            "responses": {"200": _json(_ref("CostOfQuality"), "the trade-off"),
                          "404": _json(_ref("Error"), "unknown queue, or no history or ticket feed"),
                          "503": _json(_ref("Error"), "the history or the tickets are still being read"),
                          **ERRORS}}},
        "/api/calendar": {"get": {
            "summary": "planned trainings and system changes that have not ended, each assessed against its queues' "
                       "forecast (the service level it leaves, a better start, the peaks and freezes it overlaps)",
            "security": secured,
            "responses": {"200": _json({"type": "object", "required": ["entries"], "properties": {
                "entries": {"type": "array", "items": _ref("CalendarEntry")}}}, "the entries"),
                "404": _json(_ref("Error"), "no history or calendar feed on this worker"),
                "503": _json(_ref("Error"), "the history or the calendar is still being read"), **ERRORS}}},
        "/api/scorecards": {"get": {
            "summary": "a team's agents' CX scorecards: CSAT and CES credited by the attribution rule, first-contact "
                       "resolution, reopen rate, handle time against the tier norm, raw and shrunk toward the team "
                       "with n and intervals; the incentive index with each component's contribution; coaching "
                       "flags with their evidence", "security": secured,
            "parameters": [{"name": "team", "in": "query", "schema": {"type": "string"}},
                           {"name": "period", "in": "query", "schema": {"type": "string",
                                                                        "enum": ["day", "week", "hours"]}},
                           {"name": "date", "in": "query", "schema": {"type": "string", "format": "date"}},
                           {"name": "hours", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                       "maximum": 168}},
                           {"name": "attribution", "in": "query", "schema": {"type": "string",
                                                                             "enum": ATTRIBUTIONS}},
                           {"name": "chart", "in": "query", "schema": {"type": "string", "enum": ["svg"]}}],
            "responses": {"200": _json(_ref("Scorecard"), "the team's scorecard"),
                          "400": _json(_ref("Error"), "bad parameter"),
                          "404": _json(_ref("Error"), "unknown team, or no ticket feed on this worker"),
                          "503": _json(_ref("Error"), "the ticket feed is still reading cx.events"), **ERRORS}}},
        "/api/peer/cells": {"get": {
            "summary": "for the other workers: this worker's metric cells (sufficient statistics) of the given "
                       "definitions, within the token's scope, and the cx.events partitions it holds",
            "security": secured,
            "parameters": [{"name": "definition", "in": "query", "required": True,
                            "schema": {"type": "string"}, "description": "definition ids, comma-separated"}, local],
            "responses": {"200": _json({"type": "object", "required": ["cells", "partitions"], "properties": {
                "cells": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2}},
                "partitions": {"type": "array", "items": {"type": "integer"}}}}, "cells"),
                "404": _json(_ref("Error"), "unknown definition"), **ERRORS}}},
        "/api/warroom": {"get": {"summary": "the war-room page's snapshot for this token", "security": secured,
                                 "responses": {"200": _json({"type": "object"}, "snapshot"), **ERRORS}}},
        "/api/stream": {"get": {"summary": "Server-Sent Events: a `snapshot` event whenever the war room changes",
                                "security": secured, "responses": {"200": {"description": "text/event-stream",
                                "content": {"text/event-stream": {"schema": {"type": "string"}}}}, **ERRORS}}},
        "/api/session": {"post": {"summary": "trade a bearer token for an HttpOnly session cookie",
                                  "security": [{"bearer": []}],
                                  "responses": {"200": _json(_ref("Principal"), "signed in"), **ERRORS}},
                         "delete": {"summary": "log out: the page's session cookie is cleared", "security": [],
                                    "responses": {"200": _json({"type": "object"}, "signed out")}}},
        "/": {"get": {"summary": "the war-room page (?screen=wall: for a wall screen)", "security": [],
                      "parameters": [{"name": "screen", "in": "query", "schema": {"type": "string",
                                                                                  "enum": ["wall", "desk"]}}],
                      "responses": {"200": {"description": "the page",
                                            "content": {"text/html": {"schema": {"type": "string"}}}}}}},
        "/favicon.svg": {"get": {"summary": "the page's icon", "security": [], "responses": {
            "200": {"description": "SVG", "content": {"image/svg+xml": {"schema": {"type": "string"}}}}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (text exposition)", "security": [], "responses": {
            "200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/status": {"get": {"summary": "readiness, consumer lag, recovery, table sizes, the last breach",
                            "security": [], "responses": {"200": _json({"type": "object"}, "status")}}},
        "/openapi.json": {"get": {"summary": "this description", "security": [],
                                  "responses": {"200": _json({"type": "object"}, "OpenAPI 3")}}},
        "/ingest/{source}": {"post": {
            "summary": "records from a source's webhook: one JSON object or an array, each written to the raw topic "
                       "byte for byte", "security": [{"ingest": []}],
            "parameters": [{"name": "source", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {JSON: {"schema": {}}}},
            "responses": {"202": _json({"type": "object"}, "accepted: every record is on the raw topic"),
                          "400": _json(_ref("Error"), "not a JSON object or array"),
                          "401": _json(_ref("Error"), "no valid ingest token"),
                          "404": _json(_ref("Error"), "no enabled connector of that name"),
                          "413": _json(_ref("Error"), "larger than CXSTREAM_INGEST_MAX_BYTES"),
                          "415": _json(_ref("Error"), "not application/json"),
                          "503": _json(_ref("Error"), "no ingest token configured, or the broker did not take it")}}},
        "/healthz": {"get": {"summary": "the process answers", "security": [],
                             "responses": {"200": _json({"type": "object"}, "ok")}}},
        "/readyz": {"get": {"summary": "ready: broker, partitions, tables", "security": [],
                            "responses": {"200": _json({"type": "object"}, "ready"),
                                          "503": _json({"type": "object"}, "not ready, with the failing check")}}},
    }  # fmt: skip
    paths.update(openapi_remediation.paths(secured, ERRORS))
    paths.update(openapi_locations.paths(secured, ERRORS, list(located)))
    paths.update(openapi_impact.paths(secured, ERRORS))
    paths.update(openapi_shifts.paths(secured, ERRORS, list(pairs), list(rules)))
    return {
        "openapi": "3.0.3",
        "info": {"title": "cxstream worker API", "version": __version__,
                 "description": "Live CX metrics, breaches, cases and case actions behind API tokens."},
        "paths": paths,
        "components": {
            "schemas": {**_schemas(), **openapi_remediation.schemas()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "ingest": {"type": "http", "scheme": "bearer",
                                           "description": "the ingest token (CXSTREAM_INGEST_TOKEN)"},
                                "session": {"type": "apiKey", "in": "cookie", "name": "cxstream_session"}},
        },
        "security": [{"bearer": []}],
    }  # fmt: skip


def register(app: faust.App, spec: MetricsSpec, located: Sequence[str] = (), pairs: Sequence[str] = (),
             rules: Sequence[str] = ()) -> None:  # fmt: skip
    body = document(spec, located, pairs, rules)

    @app.page("/openapi.json")
    async def openapi(view: Any, request: Any) -> Any:
        return view.json(body)
