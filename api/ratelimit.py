"""Rate limits (flask-limiter, counters in Redis), set per route in one table.

Each limit is a setting; `RATELIMIT_ENABLED=false` turns them all off (benchmarks).
A refusal is 429 with `Retry-After` and `error_code: RATE_LIMITED` (the error
handler in api/smorest.py keeps the header and adds the code).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

import redis
from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.constants import ConfigVars
from flask_limiter.util import get_remote_address
from limits import parse_many
from werkzeug.http import http_date, parse_date

from api import scope

DEFAULTS = {
    "RATELIMIT_LOGIN": "30/minute",         # per client IP
    "RATELIMIT_CODES": "20/minute;200/day",  # per resident: one-time codes and report shares
    "RATELIMIT_VERIFY": "120/minute",       # per merchant staff member
    "RATELIMIT_BATCHES": "120/minute",      # per department key
    "RATELIMIT_FACE": "5/minute;20/day",     # per resident: face verifications started
    "RATELIMIT_UPLOADS": "20/minute;200/day",  # per resident: evidence files uploaded
}


def caller_key(principal: Any) -> str:
    """A signed-in caller's bucket: its token's `sub` (the caller check read it)."""
    return "sub:" + principal.claims["sub"]


def _resident_key() -> str:
    """The caller the caller check found for the request, else the client's address."""
    request_scope = scope.current()
    principal = request_scope.principal if request_scope is not None else None
    if principal is not None and "sub" in principal.claims:
        return caller_key(principal)
    return "ip:" + get_remote_address()


def _department_key() -> str:
    key = request.headers.get("X-API-Key", "")
    return "dept:" + hashlib.sha256(key.encode()).hexdigest()[:16] if key else (
        "ip:" + get_remote_address())


# Set in a request's WSGI environ by a plain route's run once it has counted the
# request against its route's limit (`count_outside_flask`): if it then leaves the
# request to Flask, Flask-Limiter does not count it a second time.
COUNTED = "credit.rate_limit_counted"
# Beside it, the headers of that count (`count_outside_flask`), for an error answer.
COUNTED_HEADERS = "credit.rate_limit_headers"


def _counted_already() -> bool:
    return bool(request.environ.get(COUNTED))


def count_outside_flask(limiter: Limiter, config: Mapping[str, Any], limit_value: str,
                        endpoint: str, key: str) -> list[tuple[str, str]] | None:
    """Count one request against a route's own limit (`LIMITS`) as Flask-Limiter counts
    it in the route's view — the same buckets: the route's limit is scoped
    `endpoint:endpoint` (its `scope=endpoint`, not shared), keyed by `key` (what the
    route's key function gives for the caller), after the app's RATELIMIT_KEY_PREFIX —
    for a plain route's run (api/pipeline.py), which is not Flask's. The headers
    Flask-Limiter would add to a success, named by its settings, or None if a limit is
    reached: then Flask counts the request and refuses it (429). Only Flask-Limiter's
    public surface is used (its settings and `Limiter.limiter`, the `limits` package's
    strategy); tests/api/test_plain_routes.py compares the buckets and headers."""
    args = [key, f"{endpoint}:{endpoint}"]
    if config.get(ConfigVars.KEY_PREFIX):
        args.insert(0, config[ConfigVars.KEY_PREFIX])
    items = sorted(parse_many(limit_value))
    for item in items:
        if not limiter.limiter.hit(item, *args):
            return None
    if not config.get(ConfigVars.HEADERS_ENABLED):
        return []
    window_reset, remaining = limiter.limiter.get_window_stats(items[0], *args)
    # A success carries no Retry-After (see _retry_after_only_when_refused).
    return [(config.get(ConfigVars.HEADER_LIMIT) or "X-RateLimit-Limit", str(items[0].amount)),
            (config.get(ConfigVars.HEADER_REMAINING) or "X-RateLimit-Remaining", str(remaining)),
            (config.get(ConfigVars.HEADER_RESET) or "X-RateLimit-Reset", str(int(window_reset + 1)))]


def add_counted_headers(response, counted: list[tuple[str, str]] | None,
                        config: Mapping[str, Any]) -> None:
    """An error answer to a request a plain route's run counted: the headers Flask-Limiter
    adds to it — the count's X-RateLimit-* and Retry-After, the seconds until the window
    resets or the answer's own Retry-After if that is later."""
    if not counted:
        return
    for name, value in counted:
        response.headers.add(name, value)
    reset_at = int(dict(counted)[config.get(ConfigVars.HEADER_RESET) or "X-RateLimit-Reset"])
    now = time.time()
    own = response.headers.get("Retry-After")
    if own is not None:
        when = parse_date(own)
        reset_at = max(int(when.timestamp() if when is not None else now + int(own)), reset_at)
    response.headers[config.get(ConfigVars.HEADER_RETRY_AFTER) or "Retry-After"] = (
        http_date(reset_at) if config.get(ConfigVars.HEADER_RETRY_AFTER_VALUE) == "http-date"
        else str(int(reset_at - now)))


# -- admin sign-in lockout -------------------------------------------------------------
# Counted per username (hashed), whether or not the account exists, so a lock tells
# nothing about which usernames are real. Redis holds the counters; with Redis down a
# sign-in answers 503, as the limits above do.


def _login_keys(username: str) -> tuple[str, str]:
    digest = hashlib.sha256(username.encode()).hexdigest()[:32]
    return f"adminfail:{digest}", f"adminlock:{digest}"


def admin_locked_for(client: redis.Redis, username: str) -> int:
    """Seconds this username stays locked (0: not locked). The lock holds the time it
    ends (its Redis expiry only clears it away)."""
    until = client.get(_login_keys(username)[1])
    return max(int(float(until) - time.time()), 0) if until is not None else 0


def admin_login_failed(client: redis.Redis, username: str, attempts: int,
                       lock_seconds: int) -> int:
    """Count a failed sign-in; the seconds locked if this failure reached the limit."""
    failures, lock = _login_keys(username)
    count = client.incr(failures)
    if count == 1:  # failures counted within one lock period from the first
        client.expire(failures, lock_seconds)
    if count < attempts:
        return 0
    pipe = client.pipeline()
    pipe.set(lock, int(time.time()) + lock_seconds, ex=lock_seconds)
    pipe.delete(failures)
    pipe.execute()
    return lock_seconds


def admin_login_succeeded(client: redis.Redis, username: str) -> None:
    client.delete(_login_keys(username)[0])


# endpoint → (setting, whose bucket)
LIMITS = {
    "auth.wechat_login": ("RATELIMIT_LOGIN", get_remote_address),
    "dev.dev_login": ("RATELIMIT_LOGIN", get_remote_address),
    "auth.admin_login": ("RATELIMIT_LOGIN", get_remote_address),
    "console.sign_in": ("RATELIMIT_LOGIN", get_remote_address),
    "merchant.create_verification_token": ("RATELIMIT_CODES", _resident_key),
    "workers.create_share": ("RATELIMIT_CODES", _resident_key),
    # Each getVerifyId is a call WeChat counts (and bills): a few a day are plenty.
    "resident.start_verification": ("RATELIMIT_FACE", _resident_key),
    "merchant.verify_code": ("RATELIMIT_VERIFY", _resident_key),
    "department.push_records": ("RATELIMIT_BATCHES", _department_key),
    "attachments.upload_attachment": ("RATELIMIT_UPLOADS", _resident_key),
}


def init_rate_limits(app: Flask) -> Limiter:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    redis_url = app.config["REDIS_URL"]
    storage_options = {"socket_timeout": 1, "socket_connect_timeout": 1}
    if redis_url.startswith("redis+sentinel://"):  # the limits package's own form of it
        from api.extensions import SentinelURL

        redis_url, sentinel_options = SentinelURL.parse(redis_url).limits_storage()
        storage_options.update(sentinel_options)
    app.config.setdefault("RATELIMIT_STORAGE_URI",
                          "memory://" if redis_url.startswith("memory://") else redis_url)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # With Redis down a limited route cannot count: it answers 503 CACHE_UNAVAILABLE
    # (api/errors.py) rather than letting unlimited traffic through.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", False)
    # flask-limiter reads RATELIMIT_ENABLED itself and then skips making its storage;
    # make the storage always, so limits can be switched on at run time (tests).
    wanted = app.config["RATELIMIT_ENABLED"]
    app.config["RATELIMIT_ENABLED"] = True
    limiter = Limiter(get_remote_address, app=app, default_limits=[],
                      storage_options=storage_options
                      if not redis_url.startswith("memory://") else {})
    app.config["RATELIMIT_ENABLED"] = limiter.enabled = wanted
    # Every limit here is a route's own, checked when its view runs; with no default
    # or application-wide limits the limiter's check before every request has
    # nothing to do, and it costs each request (the cached points read most).
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    _only_for_limited_routes(app)
    for endpoint, (setting, key_func) in LIMITS.items():
        view = app.view_functions.get(endpoint)
        if view is not None:
            app.view_functions[endpoint] = limiter.limit(
                lambda setting=setting: current_app.config[setting], key_func=key_func,
                scope=endpoint, exempt_when=_counted_already)(view)
    return limiter


def _retry_after_only_when_refused(response):
    """Flask-Limiter sends Retry-After on every answer of a limited route; it means
    "wait before retrying", so a success does not carry it (a 429, or a 503 whose
    dependency is busy, keeps its own)."""
    if response.status_code < 400:
        response.headers.pop("Retry-After", None)
    return response


def _only_for_limited_routes(app: Flask) -> None:
    """Run the limiter's after-request (X-RateLimit-* headers) and teardown hooks only
    on the routes that have a limit: elsewhere they have nothing to do."""
    from flask_limiter import Limiter

    limited = set(LIMITS)

    def owned(hook) -> bool:
        bound_to = getattr(hook, "__self__", None)  # a bound method, or a partial's first arg
        return isinstance(bound_to, Limiter) or isinstance(
            (getattr(hook, "args", None) or (None,))[0], Limiter)

    def after(hook):
        return lambda response: (_retry_after_only_when_refused(hook(response))
                                 if request.endpoint in limited else response)

    def teardown(hook):
        return lambda exc=None: hook(exc) if request.endpoint in limited else None

    for hooks, wrap in ((app.after_request_funcs, after), (app.teardown_request_funcs, teardown)):
        hooks[None] = [wrap(h) if owned(h) else h for h in hooks.get(None, [])]
