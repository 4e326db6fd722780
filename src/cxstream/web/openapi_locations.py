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
    return {
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
