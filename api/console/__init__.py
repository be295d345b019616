"""The staff console (`/console/…`): server-rendered pages in Chinese for the credit
office and the departments' clerks, on the same services, access rules and audit as
the API.

Signed in with a cookie session (api/console/auth.py), every form carries a CSRF
token (Flask-WTF), and every view runs in the request's unit of work like the API's.
"""
from __future__ import annotations

from flask import Blueprint, Flask

from api.console.sessions import ConsoleCookieSessions

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def init_console(app: Flask) -> None:
    """Register the console's blueprint, cookie sessions and CSRF protection (before
    the views are wrapped in their unit of work)."""
    from flask_wtf.csrf import CSRFProtect

    from api.console import auth, clerk, office, office_tools, uploads  # noqa: F401  (routes)
    from api.console.pages import register_filters

    production = app.config["APP_ENV"] == "production"
    app.config.update(
        SESSION_COOKIE_NAME="console_session",
        SESSION_COOKIE_PATH="/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=production,
        # Checked by the console's own hook (forms only), never for the API's bodies.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_SSL_STRICT=production,
    )
    app.config.setdefault("CONSOLE_IDLE_MINUTES", 30)
    app.session_interface = ConsoleCookieSessions()
    CSRFProtect(app)
    register_filters(app)
    app.register_blueprint(bp)


@bp.after_request
def _console_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response
