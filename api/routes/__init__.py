"""One module per audience; each exposes `blp`."""
from __future__ import annotations

from api.smorest import Api


def register_blueprints(api: Api) -> None:
    from api.routes import admin, auth, department, points_views, public, resident

    for module in (public, auth, resident, points_views, department, admin):
        api.register_blueprint(module.blp)
