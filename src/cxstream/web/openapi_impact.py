"""The experiment and impact routes in the API's OpenAPI document (:mod:`cxstream.web.openapi` merges them in)."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def paths(secured: list[dict[str, list[str]]], errors: dict[str, Any]) -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    chart = {"name": "chart", "in": "query", "schema": {"type": "string", "enum": ["svg"]}}
    path_id = {"name": "experiment_id", "in": "path", "required": True, "schema": {"type": "string"}}
    experiment = _json({"type": "object", "required": ["experiment_id", "state", "arms"]}, "the experiment")
    start = {
        "required": True,
        "content": {JSON: {"schema": {
            "type": "object", "required": ["title", "hypothesis", "metrics", "unit", "arms"],
            "properties": {
                "experiment_id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{2,60}$"},
                "title": {"type": "string"}, "hypothesis": {"type": "string"},
                "metrics": {"type": "array", "items": {"type": "string"}},
                "unit": {"type": "string", "enum": ["customer", "ticket", "agent", "team", "site"]},
                "arms": {"type": "array", "minItems": 2, "description": "the control first (names alone also do)",
                         "items": {"type": "object", "required": ["name"], "properties": {
                             "name": {"type": "string"}, "weight": {"type": "number", "minimum": 0.001}}}},
                "start": {"type": "string", "format": "date-time"},
                "planned_per_arm": {"type": "integer", "minimum": 1},
                "baseline": {"type": "number"}, "target": {"type": "number"},
                "method": {"type": "string", "enum": ["sequential", "fixed"]},
            }}}},
    }  # fmt: skip
    stop = {
        "required": True,
        "content": {
            JSON: {
                "schema": {"type": "object", "required": ["decision"], "properties": {"decision": {"type": "string"}}}
            }
        },
    }
    scope = {
        "name": "scope",
        "in": "query",
        "required": True,
        "schema": {"type": "string"},
        "description": "the treated scope, dimension:value, e.g. region:emea",
    }
    return {
        "/api/audits": {"get": {
            "summary": "each declared audit: every closed period of every scope against the reference, with n, "
                       "interval, the p of the fall and the verdict", "security": secured,
            "responses": {"200": _json({"type": "object", "required": ["audits"]}, "the audits"),
                          "404": _json(error, "no history here"),
                          "503": _json(error, "the history is still being read"), **errors}}},
        "/review": {"get": {
            "summary": "the CX review pack of a scope and period: one self-contained HTML page", "security": secured,
            "parameters": [{"name": "scope", "in": "query", "schema": {"type": "string"},
                            "description": "dimension:value, e.g. region:emea (default: everywhere)"},
                           {"name": "period", "in": "query", "required": True, "schema": {"type": "string"},
                            "description": "a month (2026-11) or days (2026-11-01..2026-11-30)"}],
            "responses": {"200": {"description": "the review",
                                  "content": {"text/html": {"schema": {"type": "string"}}}},
                          "400": _json(error, "bad parameter"), "404": _json(error, "no history here"),
                          "503": _json(error, "the history is still being read"), **errors}}},
        "/api/targets": {"get": {
            "summary": "CX targets per metric and scope: the version in force, open proposals with what comparable "
                       "scopes reach, every version with its rationale and effective date", "security": secured,
            "responses": {"200": _json({"type": "object", "required": ["targets"]}, "the targets"), **errors}}},
        "/api/plateaus": {"get": {
            "summary": "a metric's weekly trend in a scope with its interval, level shifts (PELT), the changes "
                       "rolled out there and the verdict: plateau, flat or moving", "security": secured,
            "parameters": [{"name": "metric", "in": "query", "required": True, "schema": {"type": "string"}},
                           {"name": "scope", "in": "query", "schema": {"type": "string"},
                            "description": "dimension:value, e.g. region:emea (default: everywhere)"}],
            "responses": {"200": _json({"type": "object", "required": ["verdict", "weeks"]}, "the trend"),
                          "400": _json(error, "bad parameter"), "404": _json(error, "no history here"),
                          "503": _json(error, "the history is still being read"), **errors}}},
        "/api/impact": {"get": {
            "summary": "a change's effect from the metric history: adjusted (counterfactual from control scopes and "
                       "the weekday, or difference-in-differences) beside the unadjusted pre/post, parallel-trend "
                       "checks, controls declared or matched", "security": secured,
            "parameters": [{"name": "metric", "in": "query", "required": True, "schema": {"type": "string"}}, scope,
                           {"name": "rollout", "in": "query", "required": True,
                            "schema": {"type": "string", "format": "date"}},
                           {"name": "control", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
                            "style": "form", "explode": True},
                           {"name": "before", "in": "query", "schema": {"type": "integer", "minimum": 14,
                                                                        "maximum": 730}},
                           {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 3,
                                                                       "maximum": 365}}, chart],
            "responses": {"200": _json({"type": "object", "required": ["adjusted", "unadjusted", "controls"]},
                                       "the estimates"),
                          "400": _json(error, "bad parameter"), "404": _json(error, "no history here"),
                          "503": _json(error, "the history is still being read"), **errors}}},
        "/api/experiments": {
            "get": {"summary": "the experiments, their state and the decision so far", "security": secured,
                    "responses": {"200": _json({"type": "object", "required": ["experiments"]}, "experiments"),
                                  **errors}},
            "post": {"summary": "start an experiment (refused when another runs on one of its metrics)",
                     "security": secured, "requestBody": start,
                     "responses": {"202": experiment, "400": _json(error, "bad request"),
                                   "409": _json(error, "refused by a rule"), **errors}}},
        "/api/experiments/{experiment_id}": {"get": {
            "summary": "one experiment: arms with n, each arm against the control (anytime-valid and fixed-"
                       "horizon intervals), the sample-ratio check and the decision", "security": secured,
            "parameters": [path_id, chart],
            "responses": {"200": experiment, "404": _json(error, "no such experiment"), **errors}}},
        "/api/experiments/{experiment_id}/stop": {"post": {
            "summary": "stop an experiment, saying why", "security": secured, "parameters": [path_id],
            "requestBody": stop,
            "responses": {"202": experiment, "400": _json(error, "no decision given"),
                          "404": _json(error, "no such experiment"), "409": _json(error, "stopped already"),
                          **errors}}},
    }  # fmt: skip
