"""The tolerance, threshold and handover routes in the API's OpenAPI document (:mod:`cxstream.web.openapi` merges
them in)."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _choice(values: list[str]) -> dict[str, Any]:
    return {"type": "string", "enum": values} if values else {"type": "string"}


def paths(secured: list[dict[str, list[str]]], errors: dict[str, Any], pairs: list[str],
          rules: list[str]) -> dict[str, Any]:  # fmt: skip
    error = {"$ref": "#/components/schemas/Error"}
    scope = {"name": "scope", "in": "query", "schema": {"type": "string"},
             "description": "one scope, dimension:value, e.g. region:emea"}  # fmt: skip
    handover_id = {"name": "handover_id", "in": "path", "required": True, "schema": {"type": "string"},
                   "description": "team.shift start (UTC), e.g. logistics.20261205T050000Z"}  # fmt: skip
    unavailable = {"404": _json(error, "no metric history on this worker"),
                   "503": _json(error, "the history is still being read")}  # fmt: skip
    return {
        "/api/tolerance": {"get": {
            "summary": "a tolerance pair's curves: satisfaction per band of the operational value with n and interval, "
                       "the monotone curve with its band, the tolerance point with its interval, the slope beyond",
            "security": secured,
            "parameters": [{"name": "pair", "in": "query", "schema": _choice(pairs)}, scope,
                           {"name": "chart", "in": "query", "schema": {"type": "string", "enum": ["svg"]}}],
            "responses": {"200": _json({"type": "object", "required": ["pair", "curves"]}, "the curves"),
                          "400": _json(error, "an unknown pair or a bad scope"), **unavailable, **errors}}},
        "/api/thresholds": {"get": {
            "summary": "every threshold rule's levels and SLA in force with their origin; for a rule, the levels "
                       "proposed per scope from history and tolerance, with what each would have done per month",
            "security": secured,
            "parameters": [{"name": "rule", "in": "query", "schema": _choice(rules)}, scope],
            "responses": {"200": _json({"type": "object", "required": ["in_force"]}, "the levels"),
                          "400": _json(error, "an unknown rule or a bad scope"), **unavailable, **errors}}},
        "/api/handovers": {"get": {
            "summary": "the latest shift handovers of the token's teams, newest first", "security": secured,
            "parameters": [{"name": "team", "in": "query", "schema": {"type": "string"}},
                           {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                        "maximum": 200}}],
            "responses": {"200": _json({"type": "object", "required": ["handovers", "n"]}, "the handovers"),
                          "400": _json(error, "a bad limit"), **errors}}},
        "/api/handovers/{handover_id}": {"get": {
            "summary": "one shift handover", "security": secured, "parameters": [handover_id],
            "responses": {"200": _json({"type": "object", "required": ["handover_id", "state"]}, "the handover"),
                          "404": _json(error, "no such handover"), **errors}}},
        "/api/handovers/{handover_id}/ack": {"post": {
            "summary": "the incoming supervisor acknowledges a handover (a supervisor of the team or an admin)",
            "security": secured, "parameters": [handover_id],
            "requestBody": {"content": {JSON: {"schema": {"type": "object", "properties": {
                "note": {"type": "string", "maxLength": 2000}}}}}},
            "responses": {"202": _json({"type": "object", "required": ["handover_id", "acknowledged_by"]},
                                       "acknowledged"),
                          "400": _json(error, "a bad body"), "404": _json(error, "no such handover"),
                          "409": _json(error, "acknowledged already"), **errors}}},
    }  # fmt: skip
