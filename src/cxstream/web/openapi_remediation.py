"""The remediation routes in the API's OpenAPI document (:mod:`cxstream.web.openapi` merges them in)."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def schemas() -> dict[str, Any]:
    item = {
        "type": "object",
        "required": ["item_id", "title", "state", "priority", "missing_approvals", "fmea", "approvals", "rollouts",
                     "verdicts"],
        "properties": {
            "item_id": {"type": "string"}, "title": {"type": "string"},
            "state": {"type": "string", "enum": ["PROPOSED", "ANALYSED", "APPROVED", "IN_PROGRESS", "ROLLED_OUT",
                                                 "VERIFIED", "FAILED", "DROPPED"]},
            "priority": {"type": "object", "required": ["score", "score_low", "score_high", "components"]},
            "missing_approvals": {"type": "array", "items": {"type": "string"}},
            "fmea": {"type": "array", "items": {"type": "object"}},
            "approvals": {"type": "array", "items": {"type": "object"}},
            "rollouts": {"type": "array", "items": {"type": "object"}},
            "verdicts": {"type": "array", "items": {"type": "object"}},
            "check": {"type": "object"},
        },
    }  # fmt: skip
    pareto = {
        "type": "object", "required": ["total", "previous_total", "rows"],
        "properties": {"total": {"type": "integer"}, "previous_total": {"type": "integer"},
                       "rows": {"type": "array", "items": {"type": "object", "required": ["key", "count", "share",
                                                                                           "low", "high"]}}},
    }  # fmt: skip
    accepted = {"type": "object", "required": ["item_id", "action_id", "state"],
                "properties": {"item_id": {"type": "string"}, "action_id": {"type": "string"},
                               "state": {"type": "string"}}}  # fmt: skip
    return {"RemediationItem": item, "Pareto": pareto, "RemediationAccepted": accepted}


def paths(secured: list[dict[str, list[str]]], errors: dict[str, Any]) -> dict[str, Any]:
    period = {
        "name": "period",
        "in": "query",
        "schema": {"type": "string", "example": "7d"},
        "description": "a duration up to 92d (default 7d): compared with the same length before it",
    }
    chart = {"name": "chart", "in": "query", "schema": {"type": "string", "enum": ["svg"]}}
    item_id = {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}
    error = _ref("Error")
    action_body = {
        "required": True,
        "content": {
            JSON: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "action": {"type": "string"},
                        "title": {"type": "string"},
                        "source": {"type": "string", "enum": ["manual", "driver", "cut-set"]},
                        "comment": {"type": "string"},
                        "cause_code": {"type": "string"},
                        "department": {"type": "string"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "scope": {"type": "object", "additionalProperties": {"type": "string"}},
                        "reach": {"type": "number"},
                        "severity": {"type": "integer"},
                        "cost_weeks": {"type": "number"},
                        "risk": {"type": "number"},
                        "change": {"type": "object"},
                        "requests": {"type": "object", "additionalProperties": {"type": "number"}},
                        "effect": {"type": "number"},
                        "effect_low": {"type": "number"},
                        "effect_high": {"type": "number"},
                    },
                }
            }
        },
    }
    posted = {
        "202": _json(_ref("RemediationAccepted"), "recorded on cx.remediation"),
        "400": _json(error, "not a valid action"),
        "404": _json(error, "no such item"),
        "409": _json(error, "refused by the item's rules (rule)"),
        **errors,
    }
    return {
        "/api/remediation": {"get": {
            "summary": "the remediation backlog by priority (all=1: closed items too), each with its priority's "
                       "components, the approvals it misses and its verdict so far", "security": secured,
            "parameters": [{"name": "all", "in": "query", "schema": {"type": "string", "enum": ["1"]}}],
            "responses": {"200": _json({"type": "object", "required": ["items", "count"], "properties": {
                "items": {"type": "array", "items": _ref("RemediationItem")}, "count": {"type": "integer"}}},
                "the backlog"), "503": _json(error, "the backlog is still being read"), **errors}}},
        "/api/remediation/procedures": {"get": {
            "summary": "per procedure, the version each site or team runs, those behind and those without it",
            "security": secured,
            "responses": {"200": _json({"type": "object", "required": ["procedures"]}, "procedures"), **errors}}},
        "/api/remediation/allocation": {"get": {
            "summary": "shared capacity (analytics, UX, engineering weeks) allocated to backlog items by risk-adjusted "
                       "expected value (an exact integer program), with each chosen project's sensitivity",
            "security": secured,
            "responses": {"200": _json({"type": "object", "required": ["capacity", "projects", "missing"]},
                                       "the proposal"),
                          "400": _json(error, "an item asks for a resource with no declared capacity"), **errors}}},
        "/api/remediation/pareto": {"get": {
            "summary": "a Pareto of this period against the one before: drivers in detractors' comments, root "
                       "causes of resolved cases, or an operational failure by site or team, with the test of "
                       "what moved", "security": secured,
            "parameters": [{"name": "source", "in": "query", "schema": {"type": "string"},
                            "description": "drivers, causes, or a declared pareto id (late-deliveries-by-site)"},
                           period, {"name": "region", "in": "query", "schema": {"type": "string"}},
                           {"name": "site", "in": "query", "schema": {"type": "string"}},
                           {"name": "team", "in": "query", "schema": {"type": "string"}}, chart],
            "responses": {"200": _json(_ref("Pareto"), "the Pareto"), "400": _json(error, "bad parameter"),
                          **errors}}},
        "/api/remediation/trees": {"get": {
            "summary": "the declared fault trees", "security": secured,
            "responses": {"200": _json({"type": "object", "required": ["trees"]}, "trees"), **errors}}},
        "/api/remediation/trees/{tree_id}": {"get": {
            "summary": "a fault tree on this period's evidence: each basic event's observed rate with n and "
                       "interval (or its estimate), the minimal cut sets ranked, the top event's probability "
                       "(exact, and upper bounds)", "security": secured,
            "parameters": [{"name": "tree_id", "in": "path", "required": True, "schema": {"type": "string"}},
                           period, chart],
            "responses": {"200": _json({"type": "object", "required": ["id", "events", "cut_sets"]}, "the tree"),
                          "400": _json(error, "bad parameter"), "404": _json(error, "no such tree"), **errors}}},
        "/api/remediation/items": {"post": {
            "summary": "propose a remediation item (title, labels, cause_code, reach, severity, cost_weeks, risk)",
            "security": secured, "requestBody": action_body, "responses": posted}},
        "/api/remediation/items/{item_id}": {"get": {
            "summary": "one item: FMEA, approvals, rollouts, audit trail, where its cause happens, its measured "
                       "reach and the pre/post comparison of each target metric", "security": secured,
            "parameters": [item_id, chart],
            "responses": {"200": _json(_ref("RemediationItem"), "the item"), "404": _json(error, "no such item"),
                          **errors}}},
        "/api/remediation/items/{item_id}/actions": {"post": {
            "summary": "an action on an item: ANALYSE, SET_CHANGE, APPROVE, REFUSE, START, ROLL_OUT, DROP, REOPEN, "
                       "COMMENT, REPRIORITISE", "security": secured, "parameters": [item_id],
            "requestBody": action_body, "responses": posted}},
    }  # fmt: skip
