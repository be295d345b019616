"""One module per audience; each exposes `blp`."""
from __future__ import annotations

from api.smorest import Api


def register_blueprints(api: Api, *, dev_login: bool) -> None:
    from api.routes import (
        admin,
        attachments,
        auth,
        department,
        merchant,
        notifications,
        office,
        points_views,
        public,
        report_page,
        resident,
        workers,
        workflows,
    )

    for module in (public, auth, resident, points_views, department, admin, office, workflows,
                   merchant, workers, report_page, notifications, attachments):
        api.register_blueprint(module.blp)
    if dev_login:
        api.register_blueprint(auth.dev_blp)
