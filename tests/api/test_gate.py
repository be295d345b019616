"""The cached account gate of the points read: right after every change."""
from __future__ import annotations

from sqlalchemy import event

from tests.helpers import resident


def test_cached_points_read_makes_no_database_query(app, client):
    person = resident(client)
    assert client.get("/v1/me/points", headers=person["headers"]).status_code == 200
    client.get("/v1/me/points", headers=person["headers"])  # gate and score now cached
    statements = []
    engine = app.extensions["credit"].db.engine

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        r = client.get("/v1/me/points", headers=person["headers"])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert r.status_code == 200
    assert statements == []


def test_consent_withdrawal_applies_at_once(client):
    person = resident(client)
    for _ in range(2):
        assert client.get("/v1/me/points", headers=person["headers"]).status_code == 200
    client.put("/v1/me/consents/credit_points", headers=person["headers"],
               json={"granted": False, "policy_version": "2026-01"})
    r = client.get("/v1/me/points", headers=person["headers"])
    assert r.status_code == 403 and r.json["error_code"] == "CONSENT_REQUIRED"
    client.put("/v1/me/consents/credit_points", headers=person["headers"],
               json={"granted": True, "policy_version": "2026-01"})
    assert client.get("/v1/me/points", headers=person["headers"]).status_code == 200


def test_a_gate_made_before_a_change_is_never_used_after_it(app, client):
    """A read that computed the gate before a consent change but stored it after."""
    import json

    from api import gate

    person = resident(client)
    client.get("/v1/me/points", headers=person["headers"])
    redis = app.extensions["credit"].redis
    entry_key, _ = gate.keys(f"user:{person['user']['id']}")
    stale = json.loads(redis.get(entry_key))
    client.put("/v1/me/consents/credit_points", headers=person["headers"],
               json={"granted": False, "policy_version": "2026-01"})
    redis.set(entry_key, json.dumps(stale))  # the racing reader's late write
    r = client.get("/v1/me/points", headers=person["headers"])
    assert r.status_code == 403
