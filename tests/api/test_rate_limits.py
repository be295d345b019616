"""Rate limits: 429 with Retry-After and RATE_LIMITED, each bucket its own."""
from __future__ import annotations

import pytest

from tests.builders.departments import department
from tests.builders.residents import resident, valid_id


@pytest.fixture
def limits(app):
    limiter = app.state.limiter
    saved = {k: app.config[k] for k in ("RATELIMIT_LOGIN", "RATELIMIT_CODES",
                                        "RATELIMIT_BATCHES", "RATELIMIT_VERIFY",
                                        "RATELIMIT_FACE")}
    limiter.reset()
    limiter.enabled = True
    yield app.config
    limiter.enabled = False
    limiter.reset()
    app.config.update(saved)


def assert_limited(response):
    assert response.status_code == 429
    assert response.json["error_code"] == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) > 0


def test_login_per_client_ip(client, limits):
    limits["RATELIMIT_LOGIN"] = "2/minute"
    for i in range(2):
        r = client.post("/v1/auth/dev/login", json={"openid": f"a{i}"})
        assert r.status_code == 200
        # the limiter's headers on a limited route; none on an unlimited one
        assert (r.headers["X-RateLimit-Limit"], r.headers["X-RateLimit-Remaining"]) == (
            "2", str(1 - i))
        assert "Retry-After" not in r.headers  # only a refusal asks the client to wait
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {r.json['access_token']}"})
    assert me.status_code == 200 and "X-RateLimit-Limit" not in me.headers
    assert_limited(client.post("/v1/auth/dev/login", json={"openid": "a3"}))
    other_ip = client.post("/v1/auth/dev/login", json={"openid": "a4"},
                           environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other_ip.status_code == 200


def test_record_batches_per_department_key(app, client, limits):
    limits["RATELIMIT_BATCHES"] = "1/minute"
    first = department(app, client, code="one")
    second = department(app, client, code="two")
    body = {"records": [{"source_ref": "x", "subject": {"id_number": valid_id(), "name": "张三"},
                         "type": "donation.blood", "occurred_on": "2026-06-01"}]}
    assert client.post("/v1/dept/records", headers=first, json=body).status_code == 200
    assert_limited(client.post("/v1/dept/records", headers=first, json=body))
    assert client.post("/v1/dept/records", headers=second, json=body).status_code == 200


def test_share_creation_per_resident(client, limits):
    limits["RATELIMIT_CODES"] = "1/minute"
    one, two = resident(client), resident(client)
    for person in (one, two):
        client.put("/v1/me/worker-profile", headers=person["headers"],
                   json={"occupation": "housekeeping"})
    assert client.post("/v1/me/report-shares", headers=one["headers"],
                       json={"ttl_minutes": 5}).status_code == 201
    assert_limited(client.post("/v1/me/report-shares", headers=one["headers"],
                               json={"ttl_minutes": 5}))
    assert client.post("/v1/me/report-shares", headers=two["headers"],
                       json={"ttl_minutes": 5}).status_code == 201


def test_face_verifications_per_resident(client, limits):
    """Each getVerifyId is a call WeChat counts: a resident starts only a few."""
    limits["RATELIMIT_FACE"] = "1/minute"
    one, two = resident(client, id_number=False), resident(client, id_number=False)
    body = {"name": "张三", "id_number": valid_id(seq=601)}
    for person in (one, two):
        r = client.post("/v1/me/identity/verifications", headers=person["headers"], json=body)
        assert r.status_code == 201, r.json
    assert_limited(client.post("/v1/me/identity/verifications", headers=one["headers"],
                               json=body))


def test_limits_are_set_from_the_environment(monkeypatch):
    """RATELIMIT_LOGIN, _CODES, _VERIFY and _BATCHES are settings (README): read from
    the environment, a value `limits` cannot parse stops the start."""
    from api.config import load_config
    from api.ratelimit import DEFAULTS

    monkeypatch.setenv("RATELIMIT_VERIFY", "600/minute;20000/day")
    monkeypatch.delenv("RATELIMIT_LOGIN", raising=False)
    config = load_config({"APP_ENV": "testing"})
    assert config["RATELIMIT_VERIFY"] == "600/minute;20000/day"
    assert "RATELIMIT_LOGIN" not in config and DEFAULTS["RATELIMIT_LOGIN"] == "30/minute"
    monkeypatch.setenv("RATELIMIT_CODES", "twenty a minute")
    with pytest.raises(RuntimeError, match="RATELIMIT_CODES"):
        load_config({"APP_ENV": "testing"})
