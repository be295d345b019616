"""Quota, per-resident limit and once-per-verification hold under concurrency.

Real parallel transactions need PostgreSQL (SQLite serialises every writer), so
these tests are skipped on the embedded database. Each thread has its own Flask
test client, hence its own request context and database session.
"""
from __future__ import annotations

import os
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from incentives import codes
from incentives.models import Merchant, MerchantStaff, Perk, Redemption
from points.infra.db import OnSession, today
from points.people import accounts, face
from tests.builders.merchants import approved_merchant
from tests.builders.residents import valid_id

_URL = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or ""
pytestmark = pytest.mark.skipif(not _URL.startswith("postgresql"),
                                reason="concurrent transactions need PostgreSQL")


def _setup(app, client, session, *, residents: int, per_resident: int, quota: int,
           limit: int = 1) -> tuple[dict, int, list[int]]:
    """An approved merchant with one perk, and `residents` × `per_resident`
    verifications (done through the service, to keep the setup fast)."""
    merchant = approved_merchant(app, client)
    r = client.post("/v1/merchant/perks", headers=merchant["headers"], json={
        "title": "门票八折", "min_level": "A", "benefit": {"kind": "discount", "value": "8折"},
        "total_quota": quota, "per_resident_limit": limit, "valid_from": "2020-01-01",
        "valid_until": "2099-12-31"})
    assert r.status_code == 201, r.json
    perk_id = r.json["id"]
    state = app.state
    shop = session.get(Merchant, merchant["id"])
    staff_id = session.execute(select(MerchantStaff.user_id).where(
        MerchantStaff.merchant_id == shop.id)).scalar_one()
    ids = []
    for i in range(residents):
        user, _ = accounts.user_for_openid(session, f"race-{i}")
        face.bind_in_development(session, state.cipher, state.face, user, "张三", valid_id(seq=100 + i), None,
                               today())
        accounts.set_consent(session, user, "merchant_share", True, "2026-01")
        for _ in range(per_resident):
            token = codes.issue(session, state.cipher, user, today()).token
            verification = codes.verify(OnSession(session), state.cipher, state.redis, shop, staff_id,
                                        token, perk_id, today())
            assert verification.eligible, verification.reasons
            ids.append(verification.id)
    session.commit()
    return merchant, perk_id, ids


def _race(app, merchant: dict, calls: list[tuple[int, str]]) -> list[tuple[int, dict]]:
    """Send every (verification_id, key) redemption at once, one thread each."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[int, dict]] = [None] * len(calls)  # type: ignore[list-item]

    def run(index: int, verification_id: int, key: str) -> None:
        client = app.test_client()
        barrier.wait()
        try:
            r = client.post("/v1/merchant/redemptions", json={"verification_id": verification_id},
                            headers={**merchant["headers"], "Idempotency-Key": key})
            results[index] = (r.status_code, r.json)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[index] = (599, {"error_code": repr(exc)})

    threads = [threading.Thread(target=run, args=(i, vid, key))
               for i, (vid, key) in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(r is not None for r in results), "a thread did not finish"
    return results


def _codes(results) -> Counter:
    return Counter((status, body.get("error_code")) for status, body in results)


def test_fifty_redeem_a_quota_of_ten(app, client, session):
    merchant, perk_id, ids = _setup(app, client, session, residents=50, per_resident=1,
                                    quota=10)
    results = _race(app, merchant, [(vid, f"key-{vid}") for vid in ids])
    assert _codes(results) == {(201, None): 10, (409, "QUOTA_EXHAUSTED"): 40}, _codes(results)
    session.expire_all()
    assert session.get(Perk, perk_id).used == 10
    assert session.scalar(select(func.count(Redemption.id))) == 10


def test_one_idempotency_key_replayed_by_ten_threads(app, client, session):
    merchant, perk_id, ids = _setup(app, client, session, residents=1, per_resident=1,
                                    quota=10)
    results = _race(app, merchant, [(ids[0], "same-key")] * 10)
    assert {status for status, _ in results} == {201}, _codes(results)
    assert len({body["id"] for _, body in results}) == 1
    session.expire_all()
    assert session.scalar(select(func.count(Redemption.id))) == 1
    assert session.get(Perk, perk_id).used == 1


def test_one_verification_with_ten_keys_is_granted_once(app, client, session):
    merchant, perk_id, ids = _setup(app, client, session, residents=1, per_resident=1,
                                    quota=10, limit=5)
    results = _race(app, merchant, [(ids[0], f"key-{i}") for i in range(10)])
    assert _codes(results) == {(201, None): 1, (409, "ALREADY_REDEEMED"): 9}, _codes(results)
    session.expire_all()
    assert session.get(Perk, perk_id).used == 1


def test_per_resident_limit_holds_under_concurrency(app, client, session):
    merchant, perk_id, ids = _setup(app, client, session, residents=1, per_resident=10,
                                    quota=100, limit=3)
    results = _race(app, merchant, [(vid, f"key-{vid}") for vid in ids])
    assert _codes(results) == {(201, None): 3, (409, "LIMIT_REACHED"): 7}, _codes(results)
    session.expire_all()
    assert session.get(Perk, perk_id).used == 3
