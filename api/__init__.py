"""The Flask application factory."""
from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING

from flask import Flask, request
from flask.sessions import SessionInterface
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, UnicodeConverter, ValidationError

from api.bodies import StrictJSONProvider, StrictRequest
from api.config import load_config
from api.logs import init_logging
from api.smorest import Api
from points import i18n

if TYPE_CHECKING:
    from api.context import AppState

log = logging.getLogger(__name__)
# Bodies that are not JSON, accepted by the few routes that take another format.
# Writes whose body is not JSON: a rule set's TOML, an evidence file's multipart form.
NON_JSON_BODIES = {"office.upload_rule_set", "attachments.upload_attachment"}


API_INFO = {
    "description": (
        "长沙市个人信用积分服务的接口：居民（小程序）、商户、部门和信用办。\n\n"
        "The API of the Changsha personal credit points service, for the mini-program "
        "(residents and merchant staff), the departments' data systems and the credit "
        "office. JSON in and out; dates YYYY-MM-DD (Asia/Shanghai), timestamps ISO 8601 "
        "with offset. Every error answers `{code, status, error_code, message}`; each "
        "operation lists the `error_code`s it can answer, and `error_code`s never change "
        "with the language (`Accept-Language: en` gives English messages). Lists are "
        "paginated (`page`, `page_size` ≤ 100) with an `X-Pagination` header (JSON text). "
        "Writes a client may retry take an `Idempotency-Key`."),
    "contact": {"name": "长沙市信用办 (credit office)", "url": "https://www.changsha.gov.cn/"},
}


class CreditApp(Flask):
    """Flask, remembering `ensure_sync` per function: Flask would otherwise inspect
    every hook and view for a coroutine on every request (a noticeable share of the
    cached points read). The hooks and views are a fixed set, hence the bound.
    Request bodies are read strictly (api/bodies.py). `state` holds the app's services,
    set by `create_app` (api/bootstrap.py builds them)."""

    json_provider_class = StrictJSONProvider
    request_class = StrictRequest
    state: AppState

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict = {}

    def ensure_sync(self, func):
        wrapped = self._sync.get(func)
        if wrapped is None:
            wrapped = super().ensure_sync(func)
            if len(self._sync) < 1024:
                self._sync[func] = wrapped
        return wrapped


class NoCookieSessions(SessionInterface):
    """This API keeps no cookie session (callers send bearer tokens or API keys):
    Flask's default would build a signing serializer on every request."""

    def open_session(self, app, request):
        return None  # Flask then uses its null session

    def save_session(self, app, session, response) -> None:
        return None


SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                    ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"))
# Not on the interactive docs pages, which load their scripts and styles.
SECURITY_HEADERS_API = (*SECURITY_HEADERS, ("Content-Security-Policy",
                                            "default-src 'none'; frame-ancestors 'none'"))


class BoundedInt(IntegerConverter):
    """Ids in paths are database keys: one too large for a BIGINT, or written in other
    digits than ASCII's, is simply not found.

    Answered with NotFound rather than a failed match: when a path has rules for
    several methods (GET and PATCH of a perk), werkzeug answers a failed match on
    the later rule with 405, naming the earlier rule's methods."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        if not value.isascii():  # `\d` also matches other scripts' digits, such as ٣
            raise NotFound()
        try:
            return super().to_python(value)
        except ValidationError:
            raise NotFound() from None


class PlainString(UnicodeConverter):
    """Text in paths (codes, source refs, tokens): one holding a NUL names nothing
    that can exist (PostgreSQL cannot even be asked about it), so it is not found."""

    def to_python(self, value: str) -> str:
        if "\x00" in value:
            raise NotFound()
        return value


class TrustedProxies:
    """werkzeug's ProxyFix for `TRUSTED_PROXIES` proxies (0: none, the peer is the
    client): the client's address (REMOTE_ADDR, which the per-IP rate limits count) is
    the one the outermost trusted proxy saw, never more of X-Forwarded-For than the
    trusted proxies added (a client can write anything before that)."""

    def __init__(self, wsgi_app, config) -> None:
        self.wsgi_app = wsgi_app
        self.config = config
        self._fixes: dict[int, ProxyFix] = {}

    def __call__(self, environ, start_response):
        proxies = self.config["TRUSTED_PROXIES"]
        if not proxies:
            return self.wsgi_app(environ, start_response)
        fix = self._fixes.get(proxies)
        if fix is None:
            fix = self._fixes[proxies] = ProxyFix(self.wsgi_app, x_for=proxies, x_proto=proxies)
        return fix(environ, start_response)


def create_app(overrides: dict | None = None) -> Flask:
    config = load_config(overrides)
    i18n.check_catalogs()  # a build that did not compile the catalogs fails here, not later
    from api import docs

    app = CreditApp(__name__, instance_path=None)
    app.session_interface = NoCookieSessions()
    app.config.update(config)
    app.config.update(
        API_TITLE="Changsha personal credit points API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        **docs.settings(config),  # served offline from the app's own files
        PAGINATION_PAGE_SIZE=20,
        MAX_PAGE_SIZE=100,
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False
    app.url_map.converters["int"] = BoundedInt
    app.url_map.converters["default"] = app.url_map.converters["string"] = PlainString
    init_logging(app)

    from api import bootstrap

    state = bootstrap.build_state(config)  # the services
    db = state.db
    app.state = state
    # An app dropped in the same process (tests, tools) closes its pooled connections.
    weakref.finalize(app, db.dispose)

    api = Api(app, spec_kwargs={"info": API_INFO, "servers": [
        {"url": config["PUBLIC_BASE_URL"], "description": "this deployment"}],
        "components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }}})
    from api.routes import register_blueprints

    register_blueprints(api, dev_login=config["DEV_LOGIN_ENABLED"])
    docs.register_assets(app)
    from api.console import init_console

    init_console(app)  # the staff console's pages (/console/), before the views are wrapped

    bootstrap.wire(state)  # every hook, registry and session listener

    from api.access import init_access
    from api.errors import register_error_handlers
    from api.idempotency import keyed_transactional
    from api.ratelimit import init_rate_limits
    from api.uow import wrap_all_views

    register_error_handlers(app)
    wrap_all_views(app, keyed_transactional)
    state.limiter = init_rate_limits(app)
    init_access(app)

    @app.before_request
    def _json_only():
        if request.method in {"POST", "PUT", "PATCH"} and request.content_length:
            if request.endpoint in NON_JSON_BODIES or request.endpoint is None or \
                    request.endpoint.startswith("console."):  # the console's HTML forms
                return None
            if not request.is_json:
                from api.errors import error_response

                return error_response(415, "UNSUPPORTED_MEDIA_TYPE",
                                      i18n.gettext("send the body as application/json"))
        return None

    @app.after_request
    def _security_headers(response):
        # Added unless the view set its own; one pass over the headers (setdefault
        # per header costs a cached read noticeably).
        present = {name.lower() for name, _ in response.headers}
        for name, value in (SECURITY_HEADERS_API if not request.path.startswith(
                ("/docs", "/redoc")) else SECURITY_HEADERS):
            if name.lower() not in present:
                response.headers.add(name, value)
        origin = request.headers.get("Origin")
        if origin and origin in app.config["CORS_ORIGINS"]:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    @app.teardown_appcontext
    def _remove_session(exc):
        db.remove()

    from api.bodies import UPLOAD_BODY_LIMIT, UPLOAD_PATH, BodyReader
    from api.pipeline import PlainRoutes

    app.wsgi_app = BodyReader(
        PlainRoutes(app, app.wsgi_app, SECURITY_HEADERS_API),
        lambda environ: UPLOAD_BODY_LIMIT if environ.get("PATH_INFO") == UPLOAD_PATH
        else app.config["MAX_CONTENT_LENGTH"], SECURITY_HEADERS_API)
    from api.metrics import Metrics

    # Times every request; answers /metrics (its 404 with the app's headers).
    app.wsgi_app = Metrics(app, app.wsgi_app, SECURITY_HEADERS_API)
    app.wsgi_app = TrustedProxies(app.wsgi_app, app.config)
    from api.locale import RequestLocale

    app.wsgi_app = RequestLocale(app.wsgi_app)

    from api.cli import register_cli
    from api.pipeline import check_hooks

    register_cli(app)
    check_hooks(app)  # every hook the app has is one the plain routes' run stands in for
    return app
