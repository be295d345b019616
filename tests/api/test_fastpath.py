"""The cached points read answered before Flask (api/fastpath.py): the same answer
as the full path when everything is cached, and Flask's answer whenever not."""
from __future__ import annotations

from tests.helpers import department, push, resident, valid_id


def _points(client, person, **headers):
    return client.get("/v1/me/points", headers={**person["headers"], **headers})


def _cached_resident(client, seq: int) -> tuple[dict, dict]:
    """A resident whose account gate and score are cached (read twice), and the points."""
    person = resident(client, id_number=valid_id(seq=seq))
    for _ in range(2):
        r = _points(client, person)
        assert r.status_code == 200
    return person, r.json


def test_a_cached_read_skips_flask_and_answers_the_same(app, client, dispatched, monkeypatch):
    number = valid_id(seq=611)
    person = resident(client, id_number=number)
    push(client, department(app, client), {"type": "donation.blood", "id_number": number,
                                            "occurred_on": "2026-05-01"})
    monkeypatch.setitem(app.config, "POINTS_FAST_PATH", False)
    first = _points(client, person).json  # rebuilt from records; fills the caches
    # the only boundary after today is the record's window end
    assert first["next_change_on"] == first["items"][0]["counted_until"] is not None
    full = _points(client, person)
    assert full.json == first
    monkeypatch.setitem(app.config, "POINTS_FAST_PATH", True)
    dispatched.clear()
    fast = _points(client, person)
    assert dispatched == []  # answered before Flask
    assert fast.status_code == full.status_code == 200
    assert fast.get_data() == full.get_data()
    assert fast.json["items"] and fast.json["points"] > fast.json["base"]
    assert ({k for k, _ in fast.headers} == {k for k, _ in full.headers})
    for name in ("Content-Type", "Content-Length", "Cache-Control", "X-Content-Type-Options",
                 "Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"):
        assert fast.headers[name] == full.headers[name], name
    assert len(fast.headers["X-Request-Id"]) == 32
    assert fast.headers["X-Request-Id"] != full.headers["X-Request-Id"]


def test_refusals_and_misses_go_to_flask(app, client, dispatched):
    person = resident(client, id_number=valid_id(seq=612))
    dispatched.clear()
    first = _points(client, person)  # nothing cached yet: Flask computes and caches
    assert first.status_code == 200 and dispatched == [1]
    dispatched.clear()
    assert _points(client, person).status_code == 200 and dispatched == []

    # consent withdrawn: the gate version moves, the fast path steps aside
    client.put("/v1/me/consents/credit_points", headers=person["headers"],
               json={"granted": False, "policy_version": "2026-01"})
    dispatched.clear()
    r = _points(client, person)
    assert r.status_code == 403 and r.json["error_code"] == "CONSENT_REQUIRED"
    assert dispatched == [1]

    # a bad token, no token, another method: Flask's answers
    for headers in ({"Authorization": "Bearer nonsense"}, {}):
        r = client.get("/v1/me/points", headers=headers)
        assert r.status_code == 401 and r.json["error_code"]
    assert client.post("/v1/me/points", headers=person["headers"]).status_code == 405


def test_a_revoked_token_is_refused_by_flask(client, dispatched):
    person, _ = _cached_resident(client, 613)
    assert client.post("/v1/auth/logout", headers=person["headers"]).status_code == 204
    dispatched.clear()
    r = _points(client, person)
    assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
    assert r.json["message"] == "访问令牌已被撤销，请重新登录"
    assert dispatched == [1]


def test_a_session_ended_by_refresh_reuse_is_refused_by_flask(client, dispatched):
    """The family's access tokens stop at once on the cached read too (the `fam:` flag
    is read in the same Redis round trip), also a token of the family issued later."""
    person, body = _cached_resident(client, 614)
    refreshed = client.post("/v1/auth/refresh",
                            json={"refresh_token": person["refresh_token"]}).json
    later = {"headers": {"Authorization": f"Bearer {refreshed['access_token']}"}}
    for holder in (person, later):
        _points(client, holder)
        dispatched.clear()
        assert _points(client, holder).json == body and dispatched == []  # the fast path
    r = client.post("/v1/auth/refresh", json={"refresh_token": person["refresh_token"]})
    assert r.status_code == 401
    for holder in (person, later):
        dispatched.clear()
        r = _points(client, holder)
        assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
        assert dispatched == [1]


def test_a_session_ended_by_logout_is_refused_by_flask(client, dispatched):
    person, _ = _cached_resident(client, 615)
    refreshed = client.post("/v1/auth/refresh",
                            json={"refresh_token": person["refresh_token"]}).json
    later = {"headers": {"Authorization": f"Bearer {refreshed['access_token']}"}}
    assert client.post("/v1/auth/logout", headers=later["headers"]).status_code == 204
    dispatched.clear()
    r = _points(client, person)  # the session's earlier access token
    assert r.status_code == 401 and dispatched == [1]


def test_headers_the_fast_path_does_not_echo_go_to_flask(app, client, dispatched, monkeypatch):
    person, _ = _cached_resident(client, 614)
    dispatched.clear()
    r = _points(client, person, **{"X-Request-Id": "caller-chosen-id-1"})
    assert r.status_code == 200 and r.headers["X-Request-Id"] == "caller-chosen-id-1"
    monkeypatch.setitem(app.config, "CORS_ORIGINS", ["https://mini.example"])
    r = _points(client, person, Origin="https://mini.example")
    assert r.headers["Access-Control-Allow-Origin"] == "https://mini.example"
    assert dispatched == [1, 1]


def test_redis_unreachable_goes_to_flask(app, client, dispatched, monkeypatch):
    import redis

    person, expected = _cached_resident(client, 615)
    state = app.extensions["credit"]

    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("redis is down")

    monkeypatch.setattr(type(state.redis), "execute_command", down)
    monkeypatch.setattr(redis.Connection, "send_command", down)  # the fast path's own
    dispatched.clear()
    r = _points(client, person)
    assert r.status_code == 200 and r.json["points"] == expected["points"]
    assert dispatched == [1]  # the database answered, through Flask


def test_a_server_that_lost_its_scripts_is_taught_again(app, client, dispatched):
    """The fast path runs its script by digest on a connection of its own: a Redis
    restarted or flushed (SCRIPT FLUSH) gets the script again, and the read stays fast."""
    person, expected = _cached_resident(client, 616)
    app.extensions["credit"].redis.script_flush()
    dispatched.clear()
    for _ in range(2):
        r = _points(client, person)
        assert r.status_code == 200 and r.json == expected
    assert dispatched == []


def test_a_closed_account_gets_nothing_from_the_cache(client, dispatched):
    person, _ = _cached_resident(client, 616)
    assert client.delete("/v1/me", headers=person["headers"]).status_code == 204
    dispatched.clear()
    r = _points(client, person)
    assert r.status_code == 401
    assert dispatched == [1]
