"""The staff seats cached in Redis (api/seat_cache.py): used on the counter's
requests, and never a moment after the staff, the merchant or the account changed."""
from __future__ import annotations

import json

from sqlalchemy import delete, event, select, text, update

from api import seat_cache
from incentives.models import Merchant, MerchantStaff
from tests.builders.merchants import approved_merchant, valid_uscc
from tests.builders.residents import auth, dev_login


def _statements(app, call):
    seen: list[str] = []
    engine = app.state.db.engine

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return response, seen


def _reads_seats(statements: list[str]) -> bool:
    return any("merchant_staff" in s for s in statements)


def test_seats_are_read_once_then_from_redis(app, client):
    merchant = approved_merchant(app, client)
    first, statements = _statements(app, lambda: client.get(
        "/v1/merchant/perks", headers=merchant["headers"]))
    assert first.status_code == 200 and _reads_seats(statements)
    again, statements = _statements(app, lambda: client.get(
        "/v1/merchant/perks", headers=merchant["headers"]))
    assert again.status_code == 200 and again.json == first.json
    assert not _reads_seats(statements)
    r = client.get("/v1/merchant", headers=merchant["headers"])
    assert r.status_code == 200 and r.json["id"] == merchant["id"] and r.json["role"] == "owner"


def test_cached_seat_stops_working_the_moment_staff_is_removed(app, client):
    merchant = approved_merchant(app, client)
    clerk = auth(dev_login(client)["access_token"])
    code = client.post("/v1/merchant/invitations", headers=merchant["headers"]).json["code"]
    assert client.post(f"/v1/merchants/invitations/{code}/accept", headers=clerk).status_code == 200
    for _ in range(2):  # the second answer comes from the cached seat
        assert client.get("/v1/merchant/perks", headers=clerk).status_code == 200
    clerk_id = client.get("/v1/me", headers=clerk).json["id"]
    assert client.delete(f"/v1/merchant/staff/{clerk_id}",
                         headers=merchant["headers"]).status_code == 204
    r = client.get("/v1/merchant/perks", headers=clerk)
    assert r.status_code == 403 and r.json["error_code"] == "FORBIDDEN"


def test_cached_seat_stops_working_when_the_merchant_is_suspended(app, client):
    merchant = approved_merchant(app, client)
    for _ in range(2):
        assert client.get("/v1/merchant/perks", headers=merchant["headers"]).status_code == 200
    client.post(f"/v1/admin/merchants/{merchant['id']}/suspend", headers=merchant["admin"],
                json={"reason": "投诉核实"})
    assert client.get("/v1/merchant/perks", headers=merchant["headers"]).status_code == 403


def test_any_committed_change_to_merchants_or_staff_bumps_the_epoch(app, clean_app, session):
    """ORM changes and DML statements alike; a rolled-back change bumps nothing."""
    redis = app.state.redis
    client = clean_app.test_client()
    merchant = approved_merchant(app, client)

    def epoch() -> int:
        return int(redis.get(seat_cache.EPOCH_KEY) or 0)

    with app.app_context():
        before = epoch()
        session.execute(update(Merchant).where(Merchant.id == merchant["id"]).values(name="新名"))
        session.rollback()
        assert epoch() == before
        session.execute(update(Merchant).where(Merchant.id == merchant["id"]).values(name="新名"))
        session.commit()
        assert epoch() == before + 1
        staff = session.execute(select(MerchantStaff)).scalar_one()
        staff.role = "staff"
        session.commit()
        assert epoch() == before + 2
        session.execute(delete(MerchantStaff).where(MerchantStaff.id == staff.id))
        session.commit()
        assert epoch() == before + 3
        session.execute(text("SELECT 1"))  # reads bump nothing
        session.commit()
        assert epoch() == before + 3
        # A new application (pending, no staff) changes nobody's seats; approval does.
        applicant = auth(dev_login(client)["access_token"])
        r = client.post("/v1/merchants", headers=applicant,
                        json={"name": "乙", "uscc": valid_uscc(), "sector": "tourism"})
        assert r.status_code == 201 and epoch() == before + 3
        client.post(f"/v1/admin/merchants/{r.json['id']}/approve", headers=merchant["admin"])
        assert epoch() == before + 4


def test_an_entry_read_before_a_change_committed_is_never_used(app, clean_app):
    """The entry carries the epoch and gate version read before the database was:
    a change that commits (and bumps) in between leaves it stale from birth."""
    redis = app.state.redis
    keys = ["gate:user:7", "gatever:user:7", *seat_cache.keys("user:7")]
    read_before = redis.mget(keys)
    redis.incr(seat_cache.EPOCH_KEY)  # a change to the staff committed meanwhile
    seat_cache.store(redis, 7, read_before, [(1, "岳麓山景区", "staff")])
    assert seat_cache.usable(redis.mget(keys)) is None
    # Made under the current values, it is used …
    seat_cache.store(redis, 7, redis.mget(keys), [(1, "岳麓山景区", "staff")])
    assert seat_cache.usable(redis.mget(keys)) == [(1, "岳麓山景区", "staff")]
    # … until the account changes (closure, consent: its gate version moves) …
    redis.incr("gatever:user:7")
    assert seat_cache.usable(redis.mget(keys)) is None
    # … and it expires by itself if a bump was lost.
    seat_cache.store(redis, 7, redis.mget(keys), [])
    assert 0 < redis.ttl(keys[2]) <= seat_cache.TTL_SECONDS
    assert json.loads(redis.get(keys[2]))["seats"] == []
    assert seat_cache.usable(None) is None  # Redis did not answer: the database decides
    # An entry this code did not make (a rolling deploy, a stray write) is a miss.
    current = {"epoch": int(redis.get(keys[3]) or 0), "gate": int(redis.get(keys[1]) or 0)}
    for junk in (b"not json", b"{}", b'{"epoch": 1}', json.dumps({**current, "seats": [1]}),
                 json.dumps({**current, "seats": [[1, "x"]]})):
        redis.set(keys[2], junk)
        assert seat_cache.usable(redis.mget(keys)) is None
