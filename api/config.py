"""Configuration from the environment, as the API contract lists it.

Development creates its own secrets once under `instance/` so `make run` needs
nothing set; production refuses to start without each secret, naming it.
"""
from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from limits import parse_many

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", PROJECT_ROOT / "instance"))
WECHAT_OFFICIAL_BASE = "https://api.weixin.qq.com"
REQUIRED_IN_PRODUCTION = (
    "SECRET_KEY", "DATA_KEY", "DATABASE_URL", "REDIS_URL", "WECHAT_APPID", "WECHAT_SECRET",
)


# Values seen in examples, tests and development set-ups: never a production secret.
KNOWN_WEAK_SECRETS = {
    "secret", "changeme", "change-me", "changethis", "dev", "development", "test", "testing",
    "password", "dev-secret", "secret-key", "test-data-key", "data-key",
    "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
}
MIN_SECRET_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 12


def secret_weakness(value: str) -> str | None:
    """Why a secret is too weak to be a real one (None: it will do)."""
    if value.strip().lower() in KNOWN_WEAK_SECRETS or value in _dev_secret_values():
        return "it is a development or example value"
    if len(value) < MIN_SECRET_LENGTH:
        return f"it is shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS:
        return "it has too few distinct characters to be random"
    return None


def _dev_secret_values() -> set[str]:
    """The secrets `make run` made for this checkout, if any (instance/dev-secrets.json)."""
    path = INSTANCE_DIR / "dev-secrets.json"
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError):
        return set()
    return {v for v in values.values() if isinstance(v, str)}


def _production_secrets(env: dict) -> list[tuple[str, str]]:
    """(setting, value) of every secret key given: DATA_KEY may list several."""
    found = [("SECRET_KEY", env["SECRET_KEY"])]
    found += [("DATA_KEY", key) for key in env["DATA_KEY"].split(",") if key]
    if env.get("DATA_HASH_KEY"):
        found.append(("DATA_HASH_KEY", env["DATA_HASH_KEY"]))
    return found


class ConfigError(SystemExit):
    """Stops start-up with one clear line (SystemExit prints it and exits 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"configuration error: {message}")


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _dev_secrets() -> dict[str, str]:
    """Secrets made once for this checkout and kept in instance/ (git-ignored)."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "dev-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {"SECRET_KEY": secrets.token_urlsafe(48), "DATA_KEY": Fernet.generate_key().decode()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(values))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return values


def load_config(overrides: dict | None = None) -> dict:
    env = dict(os.environ)
    if overrides:
        env.update({k: v for k, v in overrides.items() if isinstance(v, str)})
    app_env = env.get("APP_ENV", "development")
    if app_env not in {"development", "testing", "production"}:
        raise ConfigError(f"APP_ENV must be development, testing or production, not {app_env!r}")

    if app_env == "production":
        for name in REQUIRED_IN_PRODUCTION:
            if not env.get(name):
                raise ConfigError(f"{name} is not set; it is required when APP_ENV=production")
        if env["REDIS_URL"].startswith("memory://"):
            raise ConfigError("REDIS_URL=memory:// is for development only; give a real Redis")
        for name, value in _production_secrets(env):
            why = secret_weakness(value)
            if why:
                raise ConfigError(f"{name} is too weak to be real ({why}); use at least "
                                  f"{MIN_SECRET_LENGTH} random characters")
        defaults: dict[str, str] = {}
    else:
        defaults = _dev_secrets() if not (env.get("SECRET_KEY") and env.get("DATA_KEY")) else {}

    config = {
        "APP_ENV": app_env,
        "TESTING": app_env == "testing",
        "DATABASE_URL": env.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'credit.db'}",
        "REDIS_URL": env.get("REDIS_URL") or "memory://",
        "SECRET_KEY": env.get("SECRET_KEY") or defaults.get("SECRET_KEY"),
        # Older signing keys still accepted during a rotation's grace period.
        "SECRET_KEY_PREVIOUS": [k for k in env.get("SECRET_KEY_PREVIOUS", "").split(",") if k],
        # DATA_KEY may list several keys, newest first (MultiFernet); see `rotate-data-key`.
        "DATA_KEYS": [k for k in (env.get("DATA_KEY") or defaults.get("DATA_KEY", "")).split(",") if k],
        # Keys the lookup hashes of ID numbers; stays fixed when DATA_KEY rotates.
        "DATA_HASH_KEY": env.get("DATA_HASH_KEY") or None,
        "WECHAT_APPID": env.get("WECHAT_APPID", "wx-dev-appid"),
        "WECHAT_SECRET": env.get("WECHAT_SECRET", "dev-secret"),
        "WECHAT_API_BASE": env.get("WECHAT_API_BASE", WECHAT_OFFICIAL_BASE).rstrip("/"),
        "WECHAT_TIMEOUT": float(env.get("WECHAT_TIMEOUT", "5")),
        "ACCESS_TOKEN_TTL": int(env.get("ACCESS_TOKEN_TTL", "900")),
        "REFRESH_TOKEN_TTL": int(env.get("REFRESH_TOKEN_TTL", str(30 * 24 * 3600))),
        "JWT_ISSUER": env.get("JWT_ISSUER", "changsha-credit"),
        "JWT_AUDIENCE": env.get("JWT_AUDIENCE", "changsha-credit-api"),
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), app_env != "testing"),
        "CORS_ORIGINS": [o for o in env.get("CORS_ORIGINS", "").split(",") if o],
        "ACCESS_LOG_RETENTION_DAYS": int(env.get("ACCESS_LOG_RETENTION_DAYS", str(5 * 365))),
        "CONSENT_POLICY_VERSION": env.get("CONSENT_POLICY_VERSION", "2026-01"),
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", str(2 * 1024 * 1024))),
        # Evidence files (points/workflows/attachments.py): in the database unless a directory is
        # given (shared by every app server, e.g. a mounted volume).
        "ATTACHMENT_DIR": env.get("ATTACHMENT_DIR") or None,
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        # WeChat's check file for the rule "{PUBLIC_BASE_URL}/r/" (扫普通链接二维码打开小程序),
        # served at /r/<name> (docs/worker-report.md).
        "WECHAT_QRCODE_CHECK_FILE": env.get("WECHAT_QRCODE_CHECK_FILE") or None,
        "WECHAT_QRCODE_CHECK_CONTENT": env.get("WECHAT_QRCODE_CHECK_CONTENT", ""),
        "DEV_LOGIN_ENABLED": app_env != "production",
        # /docs and /redoc, served from the app's own files (api/docs.py); off: absent.
        "API_DOCS": _bool(env.get("API_DOCS"), True),
        "REDOC_BUNDLE": env.get("REDOC_BUNDLE") or str(
            PROJECT_ROOT / "clients/docs/node_modules/redoc/bundles/redoc.standalone.js"),
        # Face verification (人脸核身): WeChat's, or outside production a stand-in that
        # passes every verification, so the service can be tried without WeChat.
        "FACE_VERIFIER": env.get("FACE_VERIFIER") or (
            "wechat" if app_env == "production" else "stand-in"),
        "LOG_REQUESTS": _bool(env.get("LOG_REQUESTS"), False),
        # The plain run (api/pipeline.py) of the cached points read and of the merchant
        # counter's scan and grant; off: Flask runs them.
        "POINTS_FAST_PATH": _bool(env.get("POINTS_FAST_PATH"), True),
        "COUNTER_FAST_PATH": _bool(env.get("COUNTER_FAST_PATH"), True),
        # An admin username is locked for ADMIN_LOCKOUT_MINUTES after this many failed
        # sign-ins within that time (429 ACCOUNT_LOCKED).
        "ADMIN_LOCKOUT_ATTEMPTS": int(env.get("ADMIN_LOCKOUT_ATTEMPTS", "5")),
        "ADMIN_LOCKOUT_MINUTES": int(env.get("ADMIN_LOCKOUT_MINUTES", "15")),
        # How many proxies in front of the app set X-Forwarded-For (werkzeug's ProxyFix):
        # the client's address is the one the outermost trusted proxy saw. 0: none, the
        # peer's address is the client's (a forged header is ignored).
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", "0")),
        # How long an Idempotency-Key and the answer kept for it live (then deleted by
        # `points sweep`; the same key later is a new request).
        "IDEMPOTENCY_KEY_TTL_HOURS": int(env.get("IDEMPOTENCY_KEY_TTL_HOURS", "24")),
    }
    check_file = config["WECHAT_QRCODE_CHECK_FILE"]
    if check_file and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}\.txt", check_file):
        raise ConfigError("WECHAT_QRCODE_CHECK_FILE must be the name of WeChat's check file, "
                          f"like MLz5rjPqa3.txt, not {check_file!r}")
    # The rate limits (api/ratelimit.py has their defaults), checked here so a bad value
    # stops the start rather than the first limited request.
    for name in ("RATELIMIT_LOGIN", "RATELIMIT_CODES", "RATELIMIT_VERIFY", "RATELIMIT_BATCHES",
                 "RATELIMIT_FACE", "RATELIMIT_UPLOADS"):
        if env.get(name):
            try:
                parse_many(env[name])
            except ValueError as error:
                raise RuntimeError(f"{name}: {error}") from None
            config[name] = env[name]
    if overrides:
        config.update(overrides)
    config.update(_cluster_settings(env, app_env, overrides or {}))
    if config["FACE_VERIFIER"] not in {"wechat", "stand-in"}:
        raise ConfigError("FACE_VERIFIER must be wechat or stand-in")
    if config["FACE_VERIFIER"] != "wechat" and app_env == "production":
        raise ConfigError("FACE_VERIFIER must be wechat in production: the stand-in "
                          "passes every face verification")
    return config


def _cluster_settings(env: dict, app_env: str, overrides: dict) -> dict:
    """Settings of a deployment on several machines (docs/deployment.md)."""
    from api.metrics import allowed_networks

    # /metrics: outside production open to all; in production only to these networks
    # or to a caller sending `Authorization: Bearer <METRICS_TOKEN>` (none by default).
    networks = env.get("METRICS_ALLOWED_NETWORKS")
    if networks is None:
        networks = "" if app_env == "production" else "0.0.0.0/0,::/0"
    try:
        parsed = allowed_networks(networks)
    except ValueError as error:
        raise ConfigError(f"METRICS_ALLOWED_NETWORKS: {error}") from None
    token = env.get("METRICS_TOKEN") or None
    if token and app_env == "production" and secret_weakness(token):
        raise ConfigError(f"METRICS_TOKEN is too weak to be real ({secret_weakness(token)})")
    settings = {
        "METRICS_TOKEN": token, "METRICS_ALLOWED_NETWORKS": parsed,
        # Reads that may lag (docs/scaling.md) go to this streaming replica; unset: all
        # reads on DATABASE_URL.
        "DATABASE_REPLICA_URL": env.get("DATABASE_REPLICA_URL") or None,
        # DATABASE_URL (and the replica's) lead to PgBouncer in transaction pooling: no
        # statements prepared on the server.
        "DATABASE_PGBOUNCER": _bool(env.get("DATABASE_PGBOUNCER"), False),
    }
    redis_url = env.get("REDIS_URL") or ""
    if redis_url.startswith("redis+sentinel://"):
        from api.extensions import SentinelURL

        try:
            SentinelURL.parse(redis_url)
        except ValueError as error:
            raise ConfigError(f"REDIS_URL: {error}") from None
    return {k: v for k, v in settings.items() if not (k in overrides
                                                      and not isinstance(overrides[k], str))}
