"""The cached account gate of the points read: right after every change."""
from __future__ import annotations

from sqlalchemy import event

from tests.builders.departments import department, push
from tests.builders.residents import resident, valid_id


def test_cached_points_read_makes_no_database_query(app, client):
    person = resident(client)
    assert client.get("/v1/me/points", headers=person["headers"]).status_code == 200
    client.get("/v1/me/points", headers=person["headers"])  # gate and score now cached
    statements = []
    engine = app.state.db.engine

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
    redis = app.state.redis
    entry_key, _ = gate.keys(f"user:{person['user']['id']}")
    stale = json.loads(redis.get(entry_key))
    client.put("/v1/me/consents/credit_points", headers=person["headers"],
               json={"granted": False, "policy_version": "2026-01"})
    redis.set(entry_key, json.dumps(stale))  # the racing reader's late write
    r = client.get("/v1/me/points", headers=person["headers"])
    assert r.status_code == 403


def test_cached_points_read_makes_one_redis_round_trip(app, client, monkeypatch):
    """Token denylist, account gate and the cached score come in one command."""
    person = resident(client)
    first = client.get("/v1/me/points", headers=person["headers"])
    client.get("/v1/me/points", headers=person["headers"])  # gate and score now cached
    import redis

    commands = []
    real = redis.Connection.send_command

    def counting(self, *args, **kwargs):  # every command, through the pool or not
        commands.append(args[0])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(redis.Connection, "send_command", counting)
    r = client.get("/v1/me/points", headers=person["headers"])
    monkeypatch.undo()
    assert r.status_code == 200 and r.json == first.json
    assert commands == ["EVALSHA"]


def test_prefetched_score_follows_a_new_record(app, client):
    """The score read with the token check is the one the last commit cached."""
    number = valid_id(seq=871)
    person = resident(client, id_number=number)
    before = client.get("/v1/me/points", headers=person["headers"]).json
    client.get("/v1/me/points", headers=person["headers"])
    dept = department(app, client)
    accepted = push(client, dept, {"type": "donation.blood", "id_number": number,
                                   "occurred_on": "2026-05-01"})["accepted"]
    after = client.get("/v1/me/points", headers=person["headers"]).json
    assert after["points"] > before["points"]
    assert [i["record_id"] for i in after["items"]] == [accepted[0]["record_id"]]
