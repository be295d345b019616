"""Merchants: apply → approve/reject → staff and invitations → suspension; who may call what."""
from __future__ import annotations

from tests.builders.departments import admin_headers
from tests.builders.merchants import approved_merchant, valid_uscc
from tests.builders.residents import auth, dev_login, resident


def test_apply_approve_and_owner_reaches_merchant_routes(app, client):
    owner = auth(dev_login(client)["access_token"])
    r = client.post("/v1/merchants", headers=owner,
                    json={"name": "岳麓山景区", "uscc": valid_uscc(1), "sector": "tourism"})
    assert r.status_code == 201, r.json
    assert r.json["status"] == "pending"
    merchant_id = r.json["id"]
    # Pending: not a merchant yet.
    r = client.get("/v1/merchant", headers=owner)
    assert r.status_code == 403 and r.json["error_code"] == "FORBIDDEN"

    admin = admin_headers(app, client)
    r = client.get("/v1/admin/merchants?status=pending", headers=admin)
    assert r.status_code == 200 and [m["id"] for m in r.json] == [merchant_id]
    assert "X-Pagination" in r.headers
    r = client.post(f"/v1/admin/merchants/{merchant_id}/approve", headers=admin)
    assert r.status_code == 200 and r.json["status"] == "approved"
    assert client.get("/v1/admin/merchants?status=pending", headers=admin).json == []
    # Approving twice is a conflict, not a second owner.
    r = client.post(f"/v1/admin/merchants/{merchant_id}/approve", headers=admin)
    assert r.status_code == 409 and r.json["error_code"] == "MERCHANT_STATE_CONFLICT"

    r = client.get("/v1/merchant", headers=owner)
    assert r.status_code == 200, r.json
    assert r.json["id"] == merchant_id and r.json["role"] == "owner"
    mine = client.get("/v1/merchants/applications", headers=owner).json
    assert [m["status"] for m in mine] == ["approved"]


def test_invalid_uscc_and_sector_are_422(client):
    headers = auth(dev_login(client)["access_token"])
    good = valid_uscc(2)
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    for code, reason in [(bad_check, "check character"), ("9143010", "18 characters"),
                         ("ABCDEFGH" + good[8:], "8 digits")]:
        r = client.post("/v1/merchants", headers=headers,
                        json={"name": "某公司", "uscc": code, "sector": "hotel"})
        assert r.status_code == 422, code
        assert r.json["error_code"] == "VALIDATION_ERROR"
        assert reason in r.json["errors"]["json"]["uscc"][0]
    r = client.post("/v1/merchants", headers=headers,
                    json={"name": "某公司", "uscc": good, "sector": "casino"})
    assert r.status_code == 422 and "sector" in r.json["errors"]["json"]
    r = client.post("/v1/merchants", headers=headers,
                    json={"name": "   ", "uscc": good, "sector": "hotel"})
    assert r.status_code == 422 and "name" in r.json["errors"]["json"]
    # Lower case and spaces are normalised; a second application for the code conflicts.
    r = client.post("/v1/merchants", headers=headers,
                    json={"name": "某公司", "uscc": " " + good.lower() + " ", "sector": "hotel"})
    assert r.status_code == 201 and r.json["uscc"] == good
    r = client.post("/v1/merchants", headers=headers,
                    json={"name": "某公司", "uscc": good, "sector": "hotel"})
    assert r.status_code == 409 and r.json["error_code"] == "MERCHANT_EXISTS"


def test_reject_with_reason_then_apply_again(app, client):
    headers = auth(dev_login(client)["access_token"])
    code = valid_uscc(3)
    merchant_id = client.post("/v1/merchants", headers=headers, json={
        "name": "某酒店", "uscc": code, "sector": "hotel"}).json["id"]
    admin = admin_headers(app, client)
    r = client.post(f"/v1/admin/merchants/{merchant_id}/reject", headers=admin, json={})
    assert r.status_code == 422 and "reason" in r.json["errors"]["json"]
    r = client.post(f"/v1/admin/merchants/{merchant_id}/reject", headers=admin,
                    json={"reason": "营业执照照片不清晰"})
    assert r.status_code == 200 and r.json["status"] == "rejected"
    mine = client.get("/v1/merchants/applications", headers=headers).json
    assert mine[0]["reason"] == "营业执照照片不清晰"
    assert client.get("/v1/merchant", headers=headers).status_code == 403
    # A rejected application may be sent again: same merchant, pending once more.
    r = client.post("/v1/merchants", headers=headers,
                    json={"name": "某酒店（更正）", "uscc": code, "sector": "hotel"})
    assert r.status_code == 201 and r.json["id"] == merchant_id and r.json["status"] == "pending"
    assert client.post("/v1/admin/merchants/999999/approve", headers=admin).status_code == 404


def test_wrong_callers(app, client):
    person = resident(client)
    # A resident is not the credit office, and not merchant staff.
    assert client.get("/v1/admin/merchants", headers=person["headers"]).status_code == 403
    for method, path in [("get", "/v1/merchant"), ("get", "/v1/merchant/perks"),
                         ("post", "/v1/merchant/verifications"),
                         ("post", "/v1/merchant/redemptions"), ("get", "/v1/merchant/stats")]:
        r = getattr(client, method)(path, headers=person["headers"], json={})
        assert r.status_code == 403, path
        assert r.json["error_code"] == "FORBIDDEN"
    # No credentials at all.
    assert client.get("/v1/merchant/perks").status_code == 401
    assert client.post("/v1/merchants", json={}).status_code == 401
    # The admin is not a resident and cannot act as a merchant either.
    admin = admin_headers(app, client)
    assert client.get("/v1/merchant/perks", headers=admin).status_code == 403


def test_invitations_staff_and_removal(app, client):
    merchant = approved_merchant(app, client)
    clerk = auth(dev_login(client)["access_token"])
    r = client.post("/v1/merchant/invitations", headers=merchant["headers"])
    assert r.status_code == 201, r.json
    code = r.json["code"]
    r = client.post(f"/v1/merchants/invitations/{code}/accept", headers=clerk)
    assert r.status_code == 200 and r.json == {"merchant_id": merchant["id"],
                                               "merchant_name": "岳麓山景区", "role": "staff"}
    # One use only.
    other = auth(dev_login(client)["access_token"])
    r = client.post(f"/v1/merchants/invitations/{code}/accept", headers=other)
    assert r.status_code == 409 and r.json["error_code"] == "INVITATION_USED"
    r = client.post("/v1/merchants/invitations/not-a-code/accept", headers=other)
    assert r.status_code == 410 and r.json["error_code"] == "INVITATION_EXPIRED"

    r = client.get("/v1/merchant", headers=clerk)
    assert r.status_code == 200 and r.json["role"] == "staff"
    staff = client.get("/v1/merchant/staff", headers=merchant["headers"]).json
    assert sorted(s["role"] for s in staff) == ["owner", "staff"]
    # Staff cannot invite, create perks or remove people; only the owner can.
    assert client.post("/v1/merchant/invitations", headers=clerk).status_code == 403
    owner_id = next(s["user_id"] for s in staff if s["role"] == "owner")
    clerk_id = next(s["user_id"] for s in staff if s["role"] == "staff")
    assert client.delete(f"/v1/merchant/staff/{owner_id}", headers=clerk).status_code == 403
    r = client.delete(f"/v1/merchant/staff/{owner_id}", headers=merchant["headers"])
    assert r.status_code == 409 and r.json["error_code"] == "OWNER_NOT_REMOVABLE"
    r = client.delete(f"/v1/merchant/staff/{clerk_id}", headers=merchant["headers"])
    assert r.status_code == 204
    assert client.get("/v1/merchant", headers=clerk).status_code == 403
    r = client.delete(f"/v1/merchant/staff/{clerk_id}", headers=merchant["headers"])
    assert r.status_code == 404


def test_suspension_removes_powers_and_hides_perks(app, client):
    merchant = approved_merchant(app, client)
    r = client.post("/v1/merchant/perks", headers=merchant["headers"], json={
        "title": "门票八折", "min_level": "A", "benefit": {"kind": "discount", "value": "8折"},
        "total_quota": 10, "valid_from": "2020-01-01", "valid_until": "2099-12-31"})
    assert r.status_code == 201, r.json
    person = resident(client)
    assert len(client.get("/v1/perks", headers=person["headers"]).json) == 1

    admin = merchant["admin"]
    r = client.post(f"/v1/admin/merchants/{merchant['id']}/suspend", headers=admin,
                    json={"reason": "投诉核实"})
    assert r.status_code == 200 and r.json["status"] == "suspended"
    assert client.get("/v1/merchant/perks", headers=merchant["headers"]).status_code == 403
    assert client.get("/v1/perks", headers=person["headers"]).json == []
    r = client.post(f"/v1/admin/merchants/{merchant['id']}/reinstate", headers=admin)
    assert r.status_code == 200 and r.json["status"] == "approved"
    assert client.get("/v1/merchant/perks", headers=merchant["headers"]).status_code == 200


def test_staff_of_two_merchants_name_one(app, client):
    owner = {"headers": auth(dev_login(client)["access_token"])}
    first = approved_merchant(app, client, name="甲", owner=owner)
    second = approved_merchant(app, client, name="乙", sector="housekeeping", owner=owner)
    r = client.get("/v1/merchant", headers=owner["headers"])
    assert r.status_code == 422 and r.json["error_code"] == "MERCHANT_REQUIRED"
    for merchant in (first, second):
        r = client.get("/v1/merchant", headers={**owner["headers"],
                                                "X-Merchant-Id": str(merchant["id"])})
        assert r.status_code == 200 and r.json["id"] == merchant["id"]
    r = client.get("/v1/merchant", headers={**owner["headers"], "X-Merchant-Id": "99999"})
    assert r.status_code == 403
    r = client.get("/v1/merchant", headers={**owner["headers"], "X-Merchant-Id": "abc"})
    assert r.status_code == 422


def test_demo_seed_is_idempotent(app, client, session):
    from sqlalchemy import func, select

    from incentives.demo import seed_incentives
    from incentives.models import Merchant, Perk
    from points.infra.db import today
    from points.models import User

    dev_login(client, "demo-owner")
    owner = session.execute(select(User).where(User.openid == "dev:demo-owner")).scalar_one()
    lines = seed_incentives(session, owner, today())
    session.commit()
    assert any("岳麓山" in line for line in lines)
    counts = (session.scalar(select(func.count(Merchant.id))),
              session.scalar(select(func.count(Perk.id))))
    assert counts == (2, 3)
    seed_incentives(session, owner, today())
    session.commit()
    assert (session.scalar(select(func.count(Merchant.id))),
            session.scalar(select(func.count(Perk.id)))) == counts
    # The demo owner really is the owner of both, and residents see the perks.
    headers = auth(dev_login(client, "demo-owner")["access_token"])
    ids = session.scalars(select(Merchant.id).order_by(Merchant.id)).all()
    for merchant_id in ids:
        r = client.get("/v1/merchant/perks", headers={**headers, "X-Merchant-Id": str(merchant_id)})
        assert r.status_code == 200 and r.json
    person = resident(client)
    titles = {p["title"] for p in client.get("/v1/perks", headers=person["headers"]).json}
    assert {"门票八折", "充电宝免押金租借", "优先预约上门服务"} <= titles
