"""The locations routes in the API's OpenAPI document (:mod:`cxstream.web.openapi` merges them in)."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def paths(secured: list[dict[str, list[str]]], errors: dict[str, Any], metrics: list[str]) -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    metric = {"name": "metric", "in": "query", "schema": {"type": "string", "enum": metrics}}
    day = {"name": "day", "in": "query", "schema": {"type": "string", "format": "date"},
           "description": "a closed day (default: the last final one)"}  # fmt: skip
    chart = {"name": "chart", "in": "query", "schema": {"type": "string", "enum": ["svg"]}}
    loading = {"503": _json(error, "the history is still being read"), "404": _json(error, "no history here")}
    accepted = _json({"type": "object", "required": ["proposal_id", "action_id", "state"]}, "recorded")
    body = {
        "required": True,
        "content": {
            JSON: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "action": {"type": "string", "enum": ["VOTE", "COMMENT", "WITHDRAW"]},
                        "vote": {"type": "string", "enum": ["yes", "no", "abstain"]},
                        "comment": {"type": "string"},
                        "committee": {"type": "string"},
                        "kind": {"type": "string"},
                        "title": {"type": "string"},
                        "items": {"type": "array", "items": {"type": "string"}},
                        "waves": {"type": "array", "items": {"type": "string"}},
                        "note": {"type": "string"},
                        "cost_weeks": {"type": "number", "minimum": 0},
                    },
                }
            }
        },
    }
    posted = {
        "202": accepted,
        "400": _json(error, "not a valid action"),
        "404": _json(error, "no such proposal"),
        "409": _json(error, "refused by the committee's rules (rule)"),
        **errors,
    }
    return {
        "/api/governance": {
            "get": {"summary": "scaling proposals with their state, votes and whether they rest on a verified effect",
                    "security": secured,
                    "responses": {"200": _json({"type": "object", "required": ["proposals"]}, "proposals"), **errors}},
            "post": {"summary": "a proposal to a committee (committee, kind, title, items, waves, note, cost_weeks)",
                     "security": secured, "requestBody": body, "responses": posted}},
        "/api/governance/{proposal_id}": {"get": {
            "summary": "one proposal: evidence, votes, decision, audit trail", "security": secured,
            "parameters": [{"name": "proposal_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json({"type": "object", "required": ["proposal_id", "state"]}, "the proposal"),
                          "404": _json(error, "no such proposal"), **errors}}},
        "/api/governance/{proposal_id}/actions": {"post": {
            "summary": "VOTE (a committee member), COMMENT or WITHDRAW (the proposer)", "security": secured,
            "parameters": [{"name": "proposal_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": body, "responses": posted}},
        "/api/playbooks": {"get": {
            "summary": "the playbooks, their waves, and the version each site runs today", "security": secured,
            "responses": {"200": _json({"type": "object", "required": ["playbooks"]}, "playbooks"), **errors}}},
        "/api/playbooks/{playbook_id}": {"get": {
            "summary": "a playbook as a site runs it (local adaptations applied) and each wave's before and after "
                       "with the spread across its sites", "security": secured,
            "parameters": [{"name": "playbook_id", "in": "path", "required": True, "schema": {"type": "string"}},
                           {"name": "site", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": _json({"type": "object", "required": ["effective", "waves"]}, "the playbook"),
                          "404": _json(error, "no such playbook"), **errors}}},
        "/api/partner-feedback": {"get": {
            "summary": "partners' feedback per playbook step: reports by severity, partner and site, the latest "
                       "suggestions, whether a revision is due and the item and proposal it opened",
            "security": secured,
            "parameters": [{"name": "playbook", "in": "query", "schema": {"type": "string"}}, chart],
            "responses": {"200": _json({"type": "object", "required": ["rule", "steps", "reports"]}, "the feedback"),
                          "404": _json(error, "no such playbook"), **errors}}},
        "/api/sites": {"get": {
            "summary": "the declared locations, the metrics compared, the watched rules and the noise budget",
            "security": secured,
            "responses": {"200": _json({"type": "object", "required": ["sites", "metrics", "noise"]}, "locations"),
                          **errors}}},
        "/api/sites/funnel": {"get": {
            "summary": "one metric's funnel plot of the locations on a closed day: values with n and interval, z "
                       "raw and with the random effect, band, over-dispersion, execution gaps",
            "security": secured, "parameters": [metric, day, chart],
            "responses": {"200": _json({"type": "object", "required": ["metric", "sites", "gaps"]}, "the funnel"),
                          "400": _json(error, "bad parameter"), **loading, **errors}}},
        "/api/sites/{site}/chart": {"get": {
            "summary": "one location's control chart (p-chart, Laney's p' when over-dispersed) with the Nelson "
                       "rules that fire, named", "security": secured,
            "parameters": [{"name": "site", "in": "path", "required": True, "schema": {"type": "string"}}, metric,
                           day, {"name": "days", "in": "query", "schema": {"type": "integer", "minimum": 8,
                                                                          "maximum": 366}}, chart],
            "responses": {"200": _json({"type": "object", "required": ["site", "days", "firings"]}, "the chart"),
                          "400": _json(error, "bad parameter"), **loading, **errors}}},
    }  # fmt: skip
