"""The request pipeline, and its lean run for the routes that declare themselves plain.

Every request goes through the same steps, each written once:

1. the caller and the access rule — `access.authenticate` (the token or API key,
   the role the path asks for, the role's own check such as the merchant seat);
2. the route's rate limit (`api/ratelimit.py`);
3. the body, parsed strictly (`api.bodies.load_json`) and loaded by the route's schema;
4. the work in one transaction — `uow.run` (retried on a dead pooled connection or
   when the database asks; a connection lost during COMMIT is never run again);
5. the Idempotency-Key — `idempotency.run_keyed` (the work, then its answer kept
   under the key; or, for a key answered before, that answer replayed);
6. the answer dumped by the route's schema, with the app's security headers; an
   error rendered by the app's error handlers (`api/errors.py`).

For most routes Flask drives these steps: its `before_request` hook calls step 1,
smorest's wrappers step 3 and 6, `uow.transactional` step 4, `idempotency.keyed_transactional` steps 4 and 5.
A route the merchant counter or the resident's app calls many times a second
declares itself plain (`@plain`): for a request that needs nothing else (no query
string, no CORS `Origin`, no `X-Request-Id` to echo, request logging off, a small
JSON body if any), `PlainRoutes` drives the same steps itself, without Flask's
app and request contexts, URL matching, hook lists and view wrappers — whose cost,
profiled under gunicorn, was larger than the work of these routes.
Any other request to the route, and a body the schema refuses or a scan over its
rate limit (whose answers Flask makes), goes to Flask.

Every request, Flask's or the plain run's, has a scope (api/scope.py), opened here:
the app's services and configuration, the caller once checked, the transaction while
the work runs, what the request keeps for itself. The caller check, the transaction
runner and the accessors of api/context.py read it; a plain run has no Flask app
context, so nothing it reaches reads `g` or `current_app`.

The plain run skips Flask's hooks, so it knows each one the app has and what
stands for it here (`KNOWN_HOOKS`): an app with a hook it does not know refuses to
start (`check_hooks`), rather than skipping that hook silently.
"""
from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
import redis
from flask import Flask, current_app, g
from marshmallow import Schema, ValidationError
from werkzeug.http import parse_options_header

from api import access, idempotency, ratelimit, scope, uow
from api.bodies import BodyRefused, load_json
from api.logs import new_request_id
from api.metrics import ROUTE_KEY

MAX_BODY = 4096  # a plain route's JSON body (larger ones are Flask's)


@dataclass(frozen=True)
class Declared:
    """What `@plain` itself says of a view: the setting that switches its lean run,
    whether its answer is sent as it is (the documented shape already: no dump schema,
    in Flask's run too), and what its caller check may read from Redis in the same
    round trip (`prefetch(client)` → a fetch for `TokenService.check`)."""

    switch: str
    as_is: bool = False
    prefetch: Callable[[redis.Redis], Callable[[list[str]], list]] | None = None


@dataclass(frozen=True)
class Plain:
    """A plain route as its run needs it, read once per app (`spec_of`) from the
    route's own declarations: the schema that loads its JSON body (None: no body) and
    its success status and answer schema (smorest's `@blp.arguments` and
    `@blp.response`; none if `@plain` says the answer is sent as it is), whether it
    honours Idempotency-Key (`@idempotent`), and the setting and prefetch `@plain` gives."""

    load: Schema | None
    status: int
    dump: Schema | None
    idempotent: bool
    switch: str
    prefetch: Callable[[redis.Redis], Callable[[list[str]], list]] | None


def plain(*, switch: str, as_is: bool = False, prefetch=None) -> Callable:
    """Declare a view plain (put it right above `def`): its function takes the loaded
    body (if any) and returns the answer, using `access.current()` for the caller and
    nothing of `flask.request`. Flask runs it as any view; `PlainRoutes` runs it too,
    with the body schema, status and answer schema the route declares to smorest."""

    def decorator(view: Callable) -> Callable:
        declared = view
        if as_is:  # Flask's run sends the answer as it is, too (not through a schema)
            @functools.wraps(view)
            def declared(*args: Any, **kwargs: Any) -> Any:
                return current_app.response_class(orjson.dumps(view(*args, **kwargs)),
                                                  mimetype="application/json")
        declared._plain = Declared(switch, as_is, prefetch)  # type: ignore[attr-defined]
        declared._plain_work = view  # type: ignore[attr-defined]  # the view's function itself
        return declared

    return decorator


def declared(view: Callable | None) -> Declared | None:
    return getattr(view, "_plain", None)


def spec_of(view: Callable) -> Plain:
    """A plain view's run, from its declarations: flask-smorest's record of them
    (`_apidoc`, tests/unit/test_library_internals.py) and `@idempotent`'s mark. A
    route the plain run cannot serve as declared refuses to start."""
    said = declared(view)
    doc = getattr(view, "_apidoc", None)
    if said is None or doc is None:
        raise RuntimeError(f"{view.__qualname__}: not a plain route declared to smorest")
    arguments = doc.get("arguments", {}).get("parameters", [])
    if any(argument.get("in") != "json" for argument in arguments) or len(arguments) > 1:
        raise RuntimeError(f"{view.__qualname__}: a plain route reads one JSON body at most")
    body = arguments[0]["schema"] if arguments else None
    successes = {int(code): answer for code, answer in doc["response"]["responses"].items()
                 if int(code) < 300}
    if len(successes) != 1:
        raise RuntimeError(f"{view.__qualname__}: a plain route has one success status")
    ((status, answer),) = successes.items()
    answer = answer[0] if isinstance(answer, list) else answer
    dump = None if said.as_is else answer["schema"]
    return Plain(body() if isinstance(body, type) else body, status,
                 dump() if isinstance(dump, type) else dump,
                 getattr(view, "_idempotent", False), said.switch, said.prefetch)


class HandOver(Exception):
    """Leave the request to Flask: raised before anything was written."""


@dataclass(frozen=True)
class _Route:
    endpoint: str
    rule: str
    plain: Plain
    work: Callable[..., Any]


class Prefetchers:
    """Each plain route's prefetch, made once per app (a script registered with Redis)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._made: dict[Callable, Callable[[list[str]], list]] = {}

    def for_view(self, view: Callable | None) -> Callable[[list[str]], list] | None:
        spec = declared(view)
        return None if spec is None else self.for_plain(spec)

    def for_plain(self, spec: Plain | Declared) -> Callable[[list[str]], list] | None:
        if spec.prefetch is None:
            return None
        fetch = self._made.get(spec.prefetch)
        if fetch is None:
            fetch = self._made[spec.prefetch] = spec.prefetch(self.client)
        return fetch


# The hooks an app has, and what stands for each in a plain run (by qualified name).
KNOWN_HOOKS = {
    "url_value_preprocessor": {
        "Metrics.__init__.<locals>._route": "the route's rule is written to the environ",
    },
    "before_request": {
        "init_logging.<locals>._request_id": "X-Request-Id: a request with one is Flask's; "
                                             "the plain run gives each answer a new id",
        "create_app.<locals>._json_only": "a plain route takes only application/json bodies",
        "init_access.<locals>._authorize": "step 1, access.authenticate",
        "CSRFProtect.init_app.<locals>.csrf_protect": "the console's forms only: no plain "
                                                      "route is a console page",
    },
    "after_request": {
        "init_logging.<locals>._echo_request_id": "as _request_id",
        "create_app.<locals>._security_headers": "SECURITY_HEADERS_API on every answer; a "
                                                 "request with an Origin is Flask's",
        "_only_for_limited_routes.<locals>.after.<locals>.<lambda>": "the X-RateLimit-* "
                                                                    "headers of step 2",
    },
    "teardown_request": {
        "_only_for_limited_routes.<locals>.teardown.<locals>.<lambda>": "step 2",
    },
    "teardown_appcontext": {
        "create_app.<locals>._remove_session": "the plain run removes the session when it ends",
    },
}


def _hooks(app: Flask) -> dict[str, list[str]]:
    """The hooks that run for the plain routes' requests in Flask: the app's own and
    their blueprints'."""
    scopes = {None} | {endpoint.rpartition(".")[0] for endpoint, view
                       in app.view_functions.items() if declared(view) is not None}
    found = {"url_value_preprocessor": app.url_value_preprocessors,
             "before_request": app.before_request_funcs,
             "after_request": app.after_request_funcs,
             "teardown_request": app.teardown_request_funcs}
    names = {kind: [getattr(f, "__qualname__", repr(f)) for scope, funcs in hooks.items()
                    if scope in scopes for f in funcs]
             for kind, hooks in found.items()}
    names["teardown_appcontext"] = [getattr(f, "__qualname__", repr(f))
                                    for f in app.teardown_appcontext_funcs]
    return names


def check_hooks(app: Flask) -> None:
    """Refuse an app with a hook the plain run does not know (see the module's text)."""
    unknown = {kind: [name for name in names if name not in KNOWN_HOOKS.get(kind, {})]
               for kind, names in _hooks(app).items()}
    unknown = {kind: names for kind, names in unknown.items() if names}
    if unknown:
        raise RuntimeError(f"the plain routes do not know these hooks: {unknown}; say in "
                           "api.pipeline.KNOWN_HOOKS what stands for each in a plain run")


class PlainRoutes:
    """WSGI: the plain routes' requests that need nothing else, driven through the
    pipeline's steps; every other request to `wsgi_app` (Flask)."""

    def __init__(self, app: Flask, wsgi_app: Callable, headers: Iterable[tuple[str, str]]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.state = app.state
        self.headers = [("Content-Type", "application/json"), *headers]
        self.routes: dict[tuple[str, str], _Route] = {}
        for rule in app.url_map.iter_rules():
            view = app.view_functions.get(rule.endpoint)
            if declared(view) is not None and not rule.arguments:
                spec = spec_of(view)
                for method in rule.methods - {"HEAD", "OPTIONS"}:
                    self.routes[(method, rule.rule)] = _Route(
                        rule.endpoint, rule.rule, spec, view._plain_work)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        route = self.routes.get((environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")))
        if route is not None and self._takes(environ, route):
            answer = self._plain_run(route, environ, start_response)
            if answer is not None:
                return answer
        token = scope.enter(self.app)  # Flask's run: the scope its hooks and views read
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            scope.leave(token)

    def _plain_run(self, route: _Route, environ: dict, start_response: Callable
                   ) -> Iterable[bytes] | None:
        """The request's answer from the plain run; None: it is Flask's (nothing was
        written)."""
        environ[ROUTE_KEY] = route.rule  # the request's URL rule, for /metrics (errors too)
        token = scope.enter(self.app)
        try:
            try:
                status, body, headers = self._run(route, environ)
            finally:
                self.state.db.remove()  # rolled back if not committed, its connection returned
        except HandOver:
            return None
        except Exception as error:  # noqa: BLE001 - answered by the app's error handlers
            return self._error(environ, start_response, error)
        finally:
            scope.leave(token)
        start_response(status, [*self.headers, ("Content-Length", str(len(body))),
                                ("X-Request-Id", new_request_id()), *headers])
        return [body]

    def _takes(self, environ: dict, route: _Route) -> bool:
        """Whether the request needs nothing but the pipeline's steps."""
        config = self.app.config
        if (not config[route.plain.switch] or config["LOG_REQUESTS"]
                or environ.get("QUERY_STRING") or "HTTP_ORIGIN" in environ
                or "HTTP_X_REQUEST_ID" in environ):
            return False
        if route.plain.load is None:  # no body (gunicorn says CONTENT_LENGTH 0)
            return environ.get("CONTENT_LENGTH") in (None, "", "0")
        return _small_json(environ, config["MAX_CONTENT_LENGTH"])

    def _run(self, route: _Route, environ: dict) -> tuple[str, bytes, list[tuple[str, str]]]:
        fetch = self.state.prefetchers.for_plain(route.plain)
        principal = uow.reconnecting(lambda: access.authenticate(self.state, environ, fetch))
        scope.current().principal = principal
        headers = self._count(route, principal, environ)
        parsed = body = None
        if route.plain.load is not None:
            parsed, body = _loaded(route.plain.load, environ)
        work = route.work if body is None else (lambda: route.work(body))
        key = environ.get("HTTP_IDEMPOTENCY_KEY") if route.plain.idempotent else None
        if key:
            keyed = idempotency.KeyedRequest.of(principal, route.endpoint, route.rule, parsed, key)
            outcome = idempotency.run_keyed(keyed, lambda: self._answered(route, work))
            if isinstance(outcome, idempotency.Replay):
                return (_status_line(outcome.status_code), self._encoded(outcome.answer),
                        headers + outcome.headers())
            return _status_line(route.plain.status), outcome, headers
        return _status_line(route.plain.status), uow.run(lambda: self._encode(route, work)), headers

    def _answered(self, route: _Route, work: Callable[[], Any]) -> tuple[int, Any, bytes]:
        """(status, the answer as sent, its encoding), for `run_keyed`."""
        answer = work()
        if route.plain.dump is not None:
            answer = route.plain.dump.dump(answer)
        return route.plain.status, answer, self._encoded(answer)

    def _encode(self, route: _Route, work: Callable[[], Any]) -> bytes:
        """The work's answer encoded inside the transaction: nothing may fail after COMMIT."""
        answer = work()
        if route.plain.dump is None:
            return orjson.dumps(answer)
        return self._encoded(route.plain.dump.dump(answer))

    def _encoded(self, answer: Any) -> bytes:
        """The body Flask's JSON provider would send for `answer`."""
        layout = {"indent": 2} if self.app.debug else {"separators": (",", ":")}
        return (self.app.json.dumps(answer, **layout) + "\n").encode()

    def _count(self, route: _Route, principal: access.Principal, environ: dict
               ) -> list[tuple[str, str]]:
        """Step 2: the route's own limit, in the bucket Flask-Limiter counts it in; a
        request over it is Flask's to refuse (429), one counted here is not counted
        again there."""
        limit = ratelimit.LIMITS.get(route.endpoint)
        limiter = self.state.limiter
        if limit is None or limiter is None or not limiter.enabled:
            return []
        try:
            headers = ratelimit.count_outside_flask(
                limiter, self.app.config, self.app.config[limit[0]], route.endpoint,
                ratelimit.caller_key(principal))
        except redis.exceptions.RedisError:
            raise HandOver from None  # Flask-Limiter cannot count either: Flask's 503
        if headers is None:
            raise HandOver
        environ[ratelimit.COUNTED] = True
        environ[ratelimit.COUNTED_HEADERS] = headers
        return headers

    def _error(self, environ: dict, start_response: Callable, error: BaseException
               ) -> Iterable[bytes]:
        """Step 6 for an error: the app's own handlers and after-request hooks, and the
        headers of step 2's count (Flask-Limiter's on Flask's answer). The transaction
        was rolled back and the session removed when the run ended."""
        app = self.app
        with app.request_context(environ):
            g.request_id = new_request_id()
            try:
                answer = app.handle_user_exception(error)
            except Exception as unhandled:  # noqa: BLE001 - no handler: Flask's 500
                answer = app.handle_exception(unhandled)
            response = app.process_response(app.make_response(answer))
            ratelimit.add_counted_headers(response, environ.get(ratelimit.COUNTED_HEADERS),
                                          app.config)
            return response(environ, start_response)


_STATUS_LINES = {status.value: f"{status.value} {status.phrase.upper()}" for status in HTTPStatus}


def _status_line(status: int) -> str:
    return _STATUS_LINES[status]


def _small_json(environ: dict, max_length: int | None) -> bool:
    """Whether the body is a small JSON document; read and put back for Flask."""
    mimetype = parse_options_header(environ.get("CONTENT_TYPE", ""))[0].lower()
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    limit = MAX_BODY if max_length is None else min(MAX_BODY, max_length)
    if mimetype != "application/json" or not 0 < length <= limit:
        return False
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)
    return len(raw) == length


def _loaded(schema: Schema, environ: dict) -> tuple[Any, dict]:
    """Step 3: the body parsed as smorest's parser reads it, then loaded; a body
    either refuses is Flask's to answer (400, 422)."""
    raw = environ["wsgi.input"].getvalue()
    try:
        parsed = load_json(raw)
        return parsed, schema.load(parsed)
    except (BodyRefused, ValidationError):
        raise HandOver from None
