"""The worker serves the routes of ``web.routes.ROUTES`` and no other (Faust's own views are not mounted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxstream.app import create_app, load_context
from cxstream.settings import Settings
from cxstream.web.routes import ROUTES, Door


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("data")))
    app = create_app(load_context(settings), "127.0.0.1:9")  # nothing connects: the server is built, not run
    app.web.init_server()
    return {(r.method, r.resource.canonical) for r in app.web.web_app.router.routes()
            if r.method != "HEAD" and r.resource is not None}  # fmt: skip


def test_every_served_route_is_declared_with_its_door(served: set[tuple[str, str]]) -> None:
    declared = {(r.method, r.path) for r in ROUTES}
    assert served - declared == set(), "served but not declared in web/routes.py (who may call it?)"
    assert declared - served == set(), "declared but not served"


def test_faust_views_that_answer_table_contents_are_not_served(served: set[tuple[str, str]]) -> None:
    paths = {path for _, path in served}
    for prefix in ("/table", "/router", "/graph", "/stats", "/performance"):
        assert not any(p.startswith(prefix) for p in paths), prefix
    assert [m for m, p in served if p == "/"] == ["GET"]  # the page only, not Faust's index as well


def test_only_probes_the_page_its_log_out_and_the_api_description_are_public() -> None:
    public = {(r.method, r.path) for r in ROUTES if r.door is Door.PUBLIC}
    pages = ("/healthz", "/readyz", "/metrics", "/status", "/openapi.json", "/", "/favicon.svg")
    assert public == {("GET", p) for p in pages} | {("DELETE", "/api/session")}
