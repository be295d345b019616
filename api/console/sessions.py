"""Flask's signed cookie session, for the console's paths only: the API keeps no
cookie session (its callers send bearer tokens or API keys)."""
from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface


class ConsoleCookieSessions(SecureCookieSessionInterface):
    def open_session(self, app, request):
        if not request.path.startswith("/console/"):
            return None  # Flask then uses its null session
        return super().open_session(app, request)
