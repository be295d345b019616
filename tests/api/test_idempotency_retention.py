"""Idempotency-Key rows (issue 18, part 7): kept for a published window, then a key is
new and its row deleted by the sweep; nothing personal is kept in plain text; an
account's deletion unpublishes its public commitments and removes what the table kept
of its writes."""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import time_machine
from sqlalchemy import func, select

from points.infra.db import utcnow
from points.models import IdempotencyKey
from tests.builders.merchants import REDEEM, approved_merchant, make_perk, verify
from tests.builders.residents import resident, signed_in, valid_id

CONTENT = "诚信经营，明码标价"


def _commit(client, person, key: str, content: str = CONTENT, public: bool = True):
    return client.post("/v1/me/commitments", headers={**person["headers"], "Idempotency-Key": key},
                       json={"kind": "voluntary", "content": content, "public": public})


def _rows(session) -> list[IdempotencyKey]:
    session.rollback()
    return list(session.execute(select(IdempotencyKey).order_by(IdempotencyKey.id)).scalars())


def test_the_window_is_published_in_the_openapi_description(client):
    spec = client.get("/openapi.json").json
    headers = [p for item in spec["paths"].values() for op in item.values()
               if isinstance(op, dict) for p in op.get("parameters", [])
               if p.get("name") == "Idempotency-Key"]
    assert len(headers) == 8  # every write that honours the header documents it
    assert all("24 hours" in h["description"] for h in headers)


def test_a_key_older_than_the_window_is_new_and_the_sweep_deletes_it(app, client, session):
    person = resident(client, id_number=valid_id(seq=501))
    first = _commit(client, person, "key-1")
    assert first.status_code == 201
    assert _commit(client, person, "key-1", "另一项承诺").json["error_code"] == \
        "IDEMPOTENCY_KEY_REUSED"
    replay = _commit(client, person, "key-1")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json == first.json
    with time_machine.travel(utcnow() + dt.timedelta(hours=23)):
        person["headers"] = signed_in(client, person["openid"])
        assert _commit(client, person, "key-2").status_code == 201
    with time_machine.travel(utcnow() + dt.timedelta(hours=24, minutes=1)):
        person["headers"] = signed_in(client, person["openid"])
        again = _commit(client, person, "key-1", "另一项承诺")
        assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
        assert again.json["id"] != first.json["id"]
        assert len(_rows(session)) == 2  # key-1's expired row dropped and kept anew, key-2's kept
    with time_machine.travel(utcnow() + dt.timedelta(hours=47, minutes=30)):
        result = app.test_cli_runner().invoke(args=["points", "sweep"])
        assert result.exit_code == 0, result.output
        assert "purged_idempotency_keys 1" in result.output  # key-2's (23 h + 24 h ago)
        assert [row.key for row in _rows(session)] == ["key-1"]


@pytest.mark.parametrize("plain", [True, False], ids=["plain", "flask"])
def test_a_counter_key_older_than_the_window_is_new(app, client, monkeypatch, dispatched,
                                                    plain):
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", plain)
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=10)
    staff = {**merchant["headers"], "Idempotency-Key": "till-1"}
    people = [resident(client, id_number=valid_id(birth="19800101", seq=seq))
              for seq in (11, 12)]
    for person in people:  # scores cached, as the nightly recompute leaves them
        assert client.get("/v1/me/points", headers=person["headers"]).status_code == 200
    one = verify(client, merchant, people[0], perk["id"])
    r = client.post(REDEEM, headers=staff, json={"verification_id": one["id"]})
    assert r.status_code == 201
    with time_machine.travel(utcnow() + dt.timedelta(hours=25)):
        merchant["headers"] = signed_in(client, merchant["openid"])
        staff = {**merchant["headers"], "Idempotency-Key": "till-1"}
        people[1]["headers"] = signed_in(client, people[1]["openid"])
        assert client.get("/v1/me/points", headers=people[1]["headers"]).status_code == 200
        two = verify(client, merchant, people[1], perk["id"])
        dispatched.clear()
        r = client.post(REDEEM, headers=staff,
                        json={"verification_id": two["id"]})
        assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers, r.json
        assert r.json["verification_id"] == two["id"]
        assert dispatched == ([] if plain else [1])


def test_the_kept_rows_hold_nothing_personal_in_plain_text(app, client, session):
    """The answer is encrypted and the request hash keyed: neither the commitment's text,
    the resident's masked name, nor a plain hash of the body can be read from the row."""
    person = resident(client, id_number=valid_id(seq=502), name="王小明")
    r = _commit(client, person, "key-plain")
    assert r.status_code == 201
    (row,) = _rows(session)
    stored = json.dumps(row.response, ensure_ascii=False)
    assert set(row.response) == {"sealed", "language"} and row.response["language"] == "zh"
    assert CONTENT not in stored and "王" not in stored and "content" not in stored
    body = {"kind": "voluntary", "content": CONTENT, "public": True, "department": None,
            "matter": None, "due_on": None}
    for candidate in (body, {"kind": "voluntary", "content": CONTENT, "public": True}):
        plain = hashlib.sha256(json.dumps(["/v1/me/commitments", candidate], sort_keys=True,
                                          default=str).encode()).hexdigest()
        assert row.request_hash != plain
    assert _commit(client, person, "key-plain").json == r.json  # still replayed


def test_closing_the_account_unpublishes_commitments_and_forgets_its_keys(app, client,
                                                                            session):
    person = resident(client, id_number=valid_id(seq=503))
    other = resident(client, id_number=valid_id(seq=504))
    mine = _commit(client, person, "key-mine").json["id"]
    theirs = _commit(client, other, "key-theirs", "按时缴纳物业费").json["id"]
    listed = {c["id"] for c in client.get("/v1/commitments/public").json}
    assert {mine, theirs} <= listed
    assert client.delete("/v1/me", headers=person["headers"]).status_code == 204
    listed = {c["id"] for c in client.get("/v1/commitments/public").json}
    assert mine not in listed and theirs in listed
    assert [row.key for row in _rows(session)] == ["key-theirs"]
    assert session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1


def test_an_accounts_scopes_cover_its_own_keys_and_no_other_accounts():
    """What erasure deletes (`scopes_of`) is what `scope_of` makes for that caller, as
    itself and as staff of any merchant, and nothing of a caller whose id starts alike."""
    from api.idempotency import scope_of, scopes_of

    mine = scopes_of("user:1")
    for scope in (scope_of("user:1", "workflows.create_commitment"),
                  scope_of("user:1", "merchant.redeem", 5)):
        assert scope.startswith(mine)
    for scope in (scope_of("user:12", "workflows.create_commitment"),
                  scope_of("user:12", "merchant.redeem", 5), scope_of("admin:1", "office.x")):
        assert not scope.startswith(mine)
