"""Merchants and the counter: approved merchants, perks, a resident's one-time code,
the staff's scan (verification) and grant (redemption), and what the database holds."""
from __future__ import annotations

import itertools

from stdnum.cn import uscc as gb32100

from tests.builders.departments import admin_headers
from tests.builders.residents import auth, dev_login, resident, valid_id

_codes = itertools.count(1)
_customers = itertools.count(1)

VERIFY, REDEEM = "/v1/merchant/verifications", "/v1/merchant/redemptions"
PERK = {"title": "门票八折", "description": "凭码购票八折", "min_level": "A",
        "benefit": {"kind": "discount", "value": "8折"}, "total_quota": 2,
        "per_resident_limit": 1, "valid_from": "2020-01-01", "valid_until": "2099-12-31"}


def valid_uscc(seq: int | None = None) -> str:
    """A valid unified social credit code (GB 32100)."""
    body = f"91430104MA4L{(seq or next(_codes)):05d}"
    return body + gb32100.calc_check_digit(body)


def approved_merchant(app, client, *, name: str = "岳麓山景区", sector: str = "tourism",
                      owner: dict | None = None) -> dict:
    """An approved merchant; returns its id, the owner's headers (and openid, to sign in
    again after travelling in time) and the admin's headers."""
    if owner is None:
        openid = f"owner-{next(_codes)}"
        owner = {"headers": auth(dev_login(client, openid)["access_token"]), "openid": openid}
    r = client.post("/v1/merchants", headers=owner["headers"],
                    json={"name": name, "uscc": valid_uscc(), "sector": sector})
    assert r.status_code == 201 and r.json["status"] == "pending", r.json
    admin = admin_headers(app, client)
    merchant_id = r.json["id"]
    r = client.post(f"/v1/admin/merchants/{merchant_id}/approve", headers=admin)
    assert r.status_code == 200, r.json
    return {"id": merchant_id, "headers": owner["headers"], "openid": owner.get("openid"),
            "admin": admin}


def make_perk(client, merchant: dict, **overrides) -> dict:
    """A perk of the merchant (PERK with `overrides`)."""
    r = client.post("/v1/merchant/perks", headers=merchant["headers"], json={**PERK, **overrides})
    assert r.status_code == 201, r.json
    assert r.headers["ETag"]
    return r.json


def code_for(client, person: dict) -> str:
    """A one-time code the resident shows at the counter."""
    r = client.post("/v1/me/verification-tokens", headers=person["headers"])
    assert r.status_code == 201, r.json
    return r.json["token"]


def verify(client, merchant: dict, person: dict, perk_id: int) -> dict:
    """The merchant scans a fresh code of the resident for a perk: the verification."""
    r = client.post(VERIFY, headers=merchant["headers"],
                    json={"token": code_for(client, person), "perk_id": perk_id})
    assert r.status_code == 201, r.json
    return r.json


def redeem(client, merchant: dict, verification_id: int, key: str):
    """The merchant grants the perk under an Idempotency-Key (the response, unchecked)."""
    return client.post(REDEEM, json={"verification_id": verification_id},
                       headers={**merchant["headers"], "Idempotency-Key": key})


def customer(client, name: str = "张三", cached: bool = True) -> dict:
    """A resident with consents; the birth date keeps the ID number apart from those
    other builders make. `cached`: the score read once, so it is cached, as the nightly
    recompute leaves it."""
    person = resident(client, id_number=valid_id(birth="19850505",
                                                 seq=next(_customers) % 1000), name=name)
    if cached:
        assert client.get("/v1/me/points", headers=person["headers"]).status_code == 200
    return person


def scan(client, staff: dict, token: str, perk_id: int, headers: dict | None = None):
    """POST a scan with the staff's headers (and `headers`); the response, unchecked."""
    return client.post(VERIFY, json={"token": token, "perk_id": perk_id},
                       headers={**staff, **(headers or {})})


def grant(client, staff: dict, verification_id: int, headers: dict | None = None):
    """POST a grant with the staff's headers (and `headers`); the response, unchecked."""
    return client.post(REDEEM, json={"verification_id": verification_id},
                       headers={**staff, **(headers or {})})


def tally(app) -> dict:
    """What the database holds: quota units used, grants, verifications, codes spent."""
    from sqlalchemy import func, select

    from incentives.models import Perk, Redemption, Verification, VerificationToken

    s = app.state.db.new_session()
    try:
        return {
            "used": s.scalar(select(func.coalesce(func.sum(Perk.used), 0))),
            "grants": s.scalar(select(func.count()).select_from(Redemption)),
            "verifications": s.scalar(select(func.count()).select_from(Verification)),
            "spent": s.scalar(select(func.count()).select_from(VerificationToken)
                              .where(VerificationToken.used_at.is_not(None))),
        }
    finally:
        s.close()
