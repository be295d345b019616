"""Sign-in and tokens: WeChat (against a local stub), JWT checks, refresh, logout, roles."""
from __future__ import annotations

import datetime as dt
import json

import jwt
import pytest
import time_machine
from werkzeug import Response

from tests.builders.residents import auth, dev_login, resident

SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def stub_login(httpserver, answer, status=200):
    httpserver.expect_request("/sns/jscode2session").respond_with_json(answer, status=status)


def test_wechat_login_same_openid_same_user(client, wechat_login, caplog):
    answer = {"openid": "o-abc", "session_key": "SESSIONKEY-SECRET"}
    stub_login(wechat_login, answer)
    stub_login(wechat_login, answer)
    first = client.post("/v1/auth/wechat/login", json={"code": "c1"})
    second = client.post("/v1/auth/wechat/login", json={"code": "c2"})
    assert first.status_code == 200, first.json
    assert first.json["user"] == second.json["user"] == {"id": first.json["user"]["id"],
                                                         "identity_bound": False,
                                                         "identity_verified": False}
    for r in (first, second):
        assert "SESSIONKEY" not in r.get_data(as_text=True)
    assert "SESSIONKEY" not in caplog.text
    request, _ = wechat_login.log[0]
    assert request.args["js_code"] == "c1" and request.args["grant_type"] == "authorization_code"


@pytest.mark.parametrize("errcode", [40029, 40163, 40226])
def test_wechat_bad_code(client, wechat_login, errcode):
    stub_login(wechat_login, {"errcode": errcode, "errmsg": "invalid code"})
    r = client.post("/v1/auth/wechat/login", json={"code": "bad"})
    assert r.status_code == 401 and r.json["error_code"] == "WECHAT_LOGIN_FAILED"


@pytest.mark.parametrize("errcode", [-1, 45011])
def test_wechat_busy(client, wechat_login, errcode):
    stub_login(wechat_login, {"errcode": errcode, "errmsg": "busy"})
    r = client.post("/v1/auth/wechat/login", json={"code": "c"})
    assert r.status_code == 503 and r.json["error_code"] == "WECHAT_UNAVAILABLE"
    assert int(r.headers["Retry-After"]) > 0


def test_wechat_timeout(client, wechat_login, app):
    import time

    wechat_login.expect_request("/sns/jscode2session").respond_with_handler(
        lambda req: (time.sleep(0.5), Response(json.dumps({"openid": "late"})))[1])
    wc = app.state.wechat
    saved, wc.timeout = wc.timeout, 0.1
    try:
        r = client.post("/v1/auth/wechat/login", json={"code": "c"})
    finally:
        wc.timeout = saved
    assert r.status_code == 503 and r.json["error_code"] == "WECHAT_UNAVAILABLE"


def test_wechat_down(client, app):
    wc = app.state.wechat
    saved, wc.base_url = wc.base_url, "http://127.0.0.1:9"  # nothing listens on port 9
    try:
        r = client.post("/v1/auth/wechat/login", json={"code": "c"})
    finally:
        wc.base_url = saved
    assert r.status_code == 503 and r.json["error_code"] == "WECHAT_UNAVAILABLE"
    assert "Retry-After" in r.headers


def test_wechat_login_missing_code(client):
    r = client.post("/v1/auth/wechat/login", json={})
    assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR"


def _claims(**overrides):
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {"iss": "changsha-credit", "aud": "changsha-credit-api", "sub": "user:1",
              "role": "resident", "jti": "j1", "iat": now, "nbf": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims, key=SECRET, alg="HS256"):
    from api.security import key_id

    return jwt.encode(claims, key, algorithm=alg, headers={"kid": key_id(SECRET)})


def test_forged_and_malformed_tokens(client):
    dev_login(client)  # user 1 exists
    cases = {
        "forged": _sign(_claims(), key="another-key-another-key-another-key!"),
        "expired": _sign(_claims(exp=1000, iat=900, nbf=900)),
        "wrong audience": _sign(_claims(aud="someone-else")),
        "wrong issuer": _sign(_claims(iss="someone-else")),
        "no jti": _sign(_claims(jti=None)),
        "no exp": _sign(_claims(exp=None)),
        "not yet valid": _sign(_claims(nbf=int(dt.datetime.now(dt.UTC).timestamp()) + 3600)),
        "garbage": "not-a-token",
    }
    unsigned = jwt.encode(_claims(), None, algorithm="none")
    cases["alg none"] = unsigned
    for name, token in cases.items():
        r = client.get("/v1/me", headers=auth(token))
        assert r.status_code == 401, name
        assert r.json["error_code"] == "UNAUTHENTICATED", name  # the contract's one code
    assert client.get("/v1/me").status_code == 401
    assert client.get("/v1/me", headers=auth(_sign(_claims()))).status_code == 200


def test_access_token_expires(client):
    tokens = dev_login(client)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16), tick=False):
        r = client.get("/v1/me", headers=auth(tokens["access_token"]))
    assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
    assert r.json["message"] == "访问令牌已过期，请重新登录"


def test_key_rotation_grace(app, client):
    """Tokens signed by the previous key still work while it is listed as previous."""
    from api.security import TokenService

    tokens = dev_login(client)
    old = app.state.tokens
    new_config = dict(app.config, SECRET_KEY="a-brand-new-signing-key-0123456789abcdef",
                      SECRET_KEY_PREVIOUS=[SECRET])
    app.state.tokens = TokenService(new_config, old.redis)
    try:
        assert client.get("/v1/me", headers=auth(tokens["access_token"])).status_code == 200
        newer = app.state.tokens.issue_access("user:1", "resident")
        assert jwt.get_unverified_header(newer)["kid"] != jwt.get_unverified_header(
            tokens["access_token"])["kid"]
        assert client.get("/v1/me", headers=auth(newer)).status_code == 200
        # Once the grace period ends (the old key is no longer listed) the old token fails.
        app.state.tokens = TokenService(
            dict(new_config, SECRET_KEY_PREVIOUS=[]), old.redis)
        assert client.get("/v1/me", headers=auth(tokens["access_token"])).status_code == 401
    finally:
        app.state.tokens = old


def test_refresh_rotates_and_reuse_revokes_family(client):
    first = dev_login(client)
    r = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json
    assert second["refresh_token"] != first["refresh_token"]
    # Reusing the spent token: refused, and the whole family ends.
    r = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
    assert "重复使用" in r.json["message"]
    r = client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401
    r = client.post("/v1/auth/refresh", json={"refresh_token": "rt_unknown"})
    assert r.status_code == 401


def test_a_refresh_token_naming_no_known_account_is_refused(app, client):
    # Only the service writes refresh tokens, for `user:` and `admin:` accounts; a row
    # naming anything else (a damaged or foreign row) is refused as unknown, not a 500.
    state = app.state
    session = state.db.new_session()
    with session.begin():
        pair = state.tokens.issue_pair(session, "robot:1", "resident")
    session.close()
    r = client.post("/v1/auth/refresh", json={"refresh_token": pair.refresh_token})
    assert (r.status_code, r.json["error_code"]) == (401, "UNAUTHENTICATED")


def test_logout_revokes_access_token(client):
    tokens = dev_login(client)
    headers = auth(tokens["access_token"])
    assert client.post("/v1/auth/logout", headers=headers).status_code == 204
    r = client.get("/v1/me", headers=headers)
    assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
    assert r.json["message"] == "访问令牌已被撤销，请重新登录"


def test_logout_ends_the_refresh_token_and_the_sessions_other_access_tokens(client):
    first = dev_login(client)
    second = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).json
    other = dev_login(client, "another-person")  # another session is not touched
    assert client.post("/v1/auth/logout", headers=auth(second["access_token"])).status_code == 204
    r = client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
    # The access token issued before the refresh belongs to the same session.
    assert client.get("/v1/me", headers=auth(first["access_token"])).status_code == 401
    assert client.get("/v1/me", headers=auth(other["access_token"])).status_code == 200
    assert client.post("/v1/auth/refresh",
                       json={"refresh_token": other["refresh_token"]}).status_code == 200


def _redis_down(app, monkeypatch) -> None:
    import redis as redis_lib

    real = app.state.redis

    class Down:
        def mget(self, *a, **k):
            raise redis_lib.exceptions.ConnectionError("down")

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(app.state.tokens, "redis", Down())


@pytest.mark.parametrize("redis_state", ["kept", "lost", "down"])
def test_reuse_stops_the_familys_access_tokens_at_once(client, app, monkeypatch, redis_state):
    """Reusing a spent refresh token ends its family: every access token of the family
    is refused from then on — from Redis's flag, from the database when Redis lost
    the flag, and when Redis is down."""
    first = dev_login(client)
    second = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).json
    other = dev_login(client, "bystander")
    for tokens in (first, second, other):
        assert client.get("/v1/me", headers=auth(tokens["access_token"])).status_code == 200
    r = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401
    if redis_state == "lost":
        app.state.redis.flushdb()
    elif redis_state == "down":
        _redis_down(app, monkeypatch)
    for tokens in (first, second):
        r = client.get("/v1/me", headers=auth(tokens["access_token"]))
        assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
    assert client.get("/v1/me", headers=auth(other["access_token"])).status_code == 200


def test_logout_survives_redis_loss(client, app):
    """The denylist's durable copy is in the database."""
    tokens = dev_login(client)
    headers = auth(tokens["access_token"])
    client.post("/v1/auth/logout", headers=headers)
    app.state.redis.flushdb()
    # With Redis emptied the token is still refused because the row is read then.
    import redis as redis_lib

    real = app.state.redis

    class Down:
        def mget(self, *a, **k):
            raise redis_lib.exceptions.ConnectionError("down")

        def __getattr__(self, name):
            return getattr(real, name)

    tokens_service = app.state.tokens
    tokens_service.redis = Down()
    try:
        assert client.get("/v1/me", headers=headers).status_code == 401
    finally:
        tokens_service.redis = real


@pytest.fixture
def admin_headers(client, app):
    from argon2 import PasswordHasher

    from points.models import AdminAccount

    s = app.state.db.new_session()
    s.add(AdminAccount(username="office", password_hash=PasswordHasher().hash("s3cret-pass")))
    s.commit()
    s.close()
    r = client.post("/v1/auth/admin/login", json={"username": "office", "password": "s3cret-pass"})
    assert r.status_code == 200
    return auth(r.json["access_token"])


def test_admin_login_wrong_password(client, admin_headers):
    r = client.post("/v1/auth/admin/login", json={"username": "office", "password": "nope"})
    assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
    assert r.json["message"] == "用户名或密码错误"
    r = client.post("/v1/auth/admin/login", json={"username": "ghost", "password": "nope"})
    assert r.status_code == 401


def test_an_unknown_admin_username_costs_a_password_verification(client, admin_headers,
                                                                 monkeypatch):
    """Unknown username or wrong password: each verifies one argon2 hash, so the time
    taken does not tell which usernames exist."""
    from api import passwords

    verified = []
    real = passwords.hasher

    class Counting:
        def verify(self, stored, password):
            verified.append(stored)
            return real.verify(stored, password)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(passwords, "hasher", Counting())
    for username in ("office", "ghost"):
        verified.clear()
        r = client.post("/v1/auth/admin/login", json={"username": username, "password": "nope"})
        assert r.status_code == 401 and r.json["message"] == "用户名或密码错误"
        assert len(verified) == 1 and verified[0].startswith("$argon2")


def _admin_login(client, username: str, password: str):
    return client.post("/v1/auth/admin/login", json={"username": username, "password": password})


@pytest.mark.parametrize("username", ["office", "ghost"])
def test_repeated_admin_sign_in_failures_lock_the_username(app, client, admin_headers,
                                                           monkeypatch, username):
    """ADMIN_LOCKOUT_ATTEMPTS failures lock the username (known or not, so a lock tells
    nothing) for ADMIN_LOCKOUT_MINUTES: 429 ACCOUNT_LOCKED with Retry-After, even with
    the right password; other usernames are not touched; afterwards it signs in."""
    monkeypatch.setitem(app.config, "ADMIN_LOCKOUT_ATTEMPTS", 3)
    monkeypatch.setitem(app.config, "ADMIN_LOCKOUT_MINUTES", 15)
    for _ in range(2):
        assert _admin_login(client, username, "wrong").status_code == 401
    r = _admin_login(client, username, "wrong")
    assert r.status_code == 429 and r.json["error_code"] == "ACCOUNT_LOCKED"
    assert 890 <= int(r.headers["Retry-After"]) <= 900
    r = _admin_login(client, username, "s3cret-pass")
    assert r.status_code == 429 and r.json["error_code"] == "ACCOUNT_LOCKED"
    if username == "ghost":
        assert _admin_login(client, "office", "s3cret-pass").status_code == 200
        return
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)):
        assert _admin_login(client, username, "s3cret-pass").status_code == 200


def test_a_successful_admin_sign_in_forgets_earlier_failures(app, client, admin_headers,
                                                             monkeypatch):
    monkeypatch.setitem(app.config, "ADMIN_LOCKOUT_ATTEMPTS", 3)
    for _ in range(2):
        assert _admin_login(client, "office", "wrong").status_code == 401
    assert _admin_login(client, "office", "s3cret-pass").status_code == 200
    for _ in range(2):
        assert _admin_login(client, "office", "wrong").status_code == 401


def test_roles_deny_by_default(client, admin_headers):
    person = resident(client)
    # a valid caller without the right: 403; without the credential the path takes
    # (a department's X-API-Key): 401
    for path, status, error_code in (("/v1/admin/departments", 403, "FORBIDDEN"),
                                     ("/v1/dept/quality-issues", 401, "UNAUTHENTICATED")):
        r = client.get(path, headers=person["headers"])
        assert (r.status_code, r.json["error_code"]) == (status, error_code), path
    assert client.get("/v1/admin/departments", headers=person["headers"]).status_code == 403
    assert client.get("/v1/me", headers=admin_headers).status_code == 403
    assert client.get("/v1/admin/departments").status_code == 401
    assert client.get("/v1/admin/departments", headers=admin_headers).status_code == 200
    assert client.post("/v1/auth/logout", headers=admin_headers).status_code == 204


def test_department_keys(client, admin_headers):
    r = client.post("/v1/admin/departments", headers=admin_headers,
                    json={"code": "market", "name": "市场监管局",
                          "record_types": ["admin.penalty.general"]})
    assert r.status_code == 201, r.json
    key = r.json["api_key"]
    # the new key is accepted: the department's (empty) list of quality issues
    r = client.get("/v1/dept/quality-issues", headers={"X-API-Key": key})
    assert (r.status_code, r.json) == (200, []), r.json
    listed = client.get("/v1/admin/departments", headers=admin_headers).json
    assert key not in json.dumps(listed)
    r = client.post("/v1/admin/departments", headers=admin_headers,
                    json={"code": "market", "name": "again"})
    assert r.status_code == 409
    r = client.post("/v1/admin/departments", headers=admin_headers,
                    json={"code": "x2", "name": "bad", "record_types": ["no.such.type"]})
    assert r.status_code == 422
    rotated = client.post("/v1/admin/departments/market/keys", headers=admin_headers).json["api_key"]
    assert client.get("/v1/dept/quality-issues", headers={"X-API-Key": key}).status_code == 401
    r = client.get("/v1/dept/quality-issues", headers={"X-API-Key": rotated})
    assert (r.status_code, r.json) == (200, []), r.json
    r = client.patch("/v1/admin/departments/market", headers=admin_headers,
                     json={"enabled": False})
    assert r.status_code == 200
    assert client.get("/v1/dept/quality-issues",
                      headers={"X-API-Key": rotated}).status_code == 401
    assert client.get("/v1/dept/quality-issues").status_code == 401
