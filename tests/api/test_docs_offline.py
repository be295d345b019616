"""/docs and /redoc load nothing from another host: their scripts and styles are the
app's own (Swagger UI from flask-swagger-ui, ReDoc from the pinned npm bundle), and a
setting turns the pages off."""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest

from api import docs

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@contextmanager
def _app(settings, **overrides):
    from api import create_app

    application = create_app({**settings, "TESTING": True, **overrides})
    try:
        yield application
    finally:
        application.state.db.engine.dispose()


def _assets(page: str) -> list[str]:
    return [url for url in ASSET.findall(page) if not url.startswith("data:")]


def test_swagger_ui_loads_only_the_apps_own_files(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assets = _assets(html)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"} <= set(assets)
    assert not [url for url in assets if "//" in url], assets  # no other host
    assert "cdn" not in html.lower()
    for url in assets:
        with client.get(url) as answer:  # no credentials needed
            assert answer.status_code == 200, url
            assert len(answer.get_data()) > 100, url
            assert answer.mimetype in {"application/javascript", "text/javascript", "text/css",
                                       "image/png", "text/html"}, (url, answer.mimetype)
            assert "max-age" in answer.headers["Cache-Control"]
    with client.get("/docs/assets/swagger-ui-bundle.js") as answer:
        bundle = answer.get_data()
    assert bundle == (docs.swagger_ui_dist() / "swagger-ui-bundle.js").read_bytes()


def test_only_swagger_uis_files_are_served(client):
    assert client.get("/docs/assets/VERSION").status_code == 404
    assert client.get("/docs/assets/..%2F__init__.py").status_code == 404
    assert client.get("/docs/assets/../flask_swagger_ui.py").status_code == 404


def test_redoc_loads_its_bundle_from_the_app(settings, tmp_path):
    bundle = tmp_path / "redoc.standalone.js"
    bundle.write_text("/* redoc bundle */ window.Redoc = {};")
    with _app(settings, REDOC_BUNDLE=str(bundle)) as application:
        client = application.test_client()
        page = client.get("/redoc")
        assert page.status_code == 200
        assets = _assets(page.get_data(as_text=True))
        assert assets == ["/redoc/assets/redoc.standalone.js"]
        with client.get(assets[0]) as served:
            assert served.status_code == 200 and served.get_data() == bundle.read_bytes()


def test_the_pinned_redoc_bundle_is_the_one_served_when_built(app, client):
    from pathlib import Path

    path = Path(app.config["REDOC_BUNDLE"])
    if not path.is_file():
        assert client.get("/redoc").status_code == 404  # absent, not half there
        pytest.skip("the ReDoc bundle is not built here (make docs-assets)")
    assert "clients/docs/node_modules/redoc/" in str(path)
    with client.get("/redoc/assets/redoc.standalone.js") as served:
        assert served.get_data() == path.read_bytes()


def test_production_can_turn_the_docs_off(settings):
    with _app(settings, API_DOCS=False) as application:
        client = application.test_client()
        for url in ("/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js",
                    "/redoc/assets/redoc.standalone.js"):
            with client.get(url) as answer:
                assert answer.status_code == 404, url
        assert client.get("/openapi.json").status_code == 200  # the document stays


def test_the_setting_is_read_from_the_environment(monkeypatch):
    from api.config import load_config

    monkeypatch.setenv("API_DOCS", "off")
    assert load_config({"APP_ENV": "testing"})["API_DOCS"] is False
    monkeypatch.setenv("API_DOCS", "on")
    assert load_config({"APP_ENV": "testing"})["API_DOCS"] is True
