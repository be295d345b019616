"""The interactive API docs (/docs: Swagger UI, /redoc: ReDoc) served from the app
itself, so they work offline and from mainland China: no CDN.

- Swagger UI's files come from the Python package flask-swagger-ui (pinned in
  requirements/*.lock); only its `dist` folder is used.
- ReDoc's standalone bundle comes from the npm package `redoc`, pinned by
  clients/docs/package-lock.json and installed at build time (`make docs-assets`);
  `REDOC_BUNDLE` says where it is. Without it /redoc is absent (and says so in the log).
- `API_DOCS=off` turns both pages and their files off (production may); the
  document itself, /openapi.json, stays.
"""
from __future__ import annotations

import importlib.resources
import logging
from pathlib import Path

from flask import Blueprint, Flask, abort, send_from_directory

from api.access import public

log = logging.getLogger(__name__)

SWAGGER_UI_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_MAX_AGE = 24 * 3600  # versioned with the packages: cached a day
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                    "swagger-ui.css", "index.css", "favicon-16x16.png", "favicon-32x32.png",
                    "oauth2-redirect.html", "oauth2-redirect.js")


def swagger_ui_dist() -> Path:
    return Path(str(importlib.resources.files("flask_swagger_ui") / "dist"))


def settings(config: dict) -> dict:
    """flask-smorest's settings for the docs pages, pointing at the app's own files."""
    docs = config["API_DOCS"]
    redoc = docs and Path(config["REDOC_BUNDLE"]).is_file()
    if docs and not redoc:
        log.warning("ReDoc's bundle is not at %s (run `make docs-assets`): /redoc is off",
                    config["REDOC_BUNDLE"])
    return {
        "OPENAPI_SWAGGER_UI_PATH": SWAGGER_UI_PATH if docs else None,
        "OPENAPI_SWAGGER_UI_URL": f"{SWAGGER_UI_PATH}/assets/",
        "OPENAPI_REDOC_PATH": REDOC_PATH if redoc else None,
        "OPENAPI_REDOC_URL": f"{REDOC_PATH}/assets/redoc.standalone.js",
    }


def register_assets(app: Flask) -> None:
    """The pages' scripts and styles, at the URLs `settings` gives flask-smorest."""
    blueprint = Blueprint("docs_assets", __name__)
    if app.config["OPENAPI_SWAGGER_UI_PATH"]:
        dist = swagger_ui_dist()

        @blueprint.route(f"{SWAGGER_UI_PATH}/assets/<string:name>")
        @public
        def swagger_ui_asset(name: str):
            if name not in SWAGGER_UI_FILES:
                abort(404)
            return send_from_directory(dist, name, max_age=ASSETS_MAX_AGE)

    if app.config["OPENAPI_REDOC_PATH"]:
        bundle = Path(app.config["REDOC_BUNDLE"])

        @blueprint.route(f"{REDOC_PATH}/assets/redoc.standalone.js")
        @public
        def redoc_asset():
            return send_from_directory(bundle.parent, bundle.name, max_age=ASSETS_MAX_AGE)

    app.register_blueprint(blueprint)
