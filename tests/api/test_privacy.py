"""People's rights: closing the account, and retention of the access log."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from points.models import AccessLogEntry, User
from tests.builders.departments import department, push
from tests.builders.residents import auth, bind, dev_login, resident, valid_id


def test_closing_the_account_then_binding_again(app, client, session):
    number = valid_id(seq=71)
    dept = department(app, client)
    push(client, dept, {"type": "donation.blood", "id_number": number, "occurred_on": "2026-06-01"})
    person = resident(client, id_number=number, openid="closing")
    assert client.get("/v1/me/points", headers=person["headers"]).json["points"] == 1010
    assert client.delete("/v1/me", headers=person["headers"]).status_code == 204
    # Every session ends at once: the access token and the refresh token.
    assert client.get("/v1/me", headers=person["headers"]).status_code == 401
    r = client.post("/v1/auth/refresh", json={"refresh_token": person["refresh_token"]})
    assert r.status_code == 401
    # The account data is erased; the credit records stay with the subject.
    closed = session.query(User).filter(User.closed_at.is_not(None)).one()
    assert (closed.openid, closed.name_enc, closed.phone_enc, closed.subject_id) == (
        None, None, None, None)
    with app.state.db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM consents")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM credit_records")).scalar() == 1
    # The same WeChat user comes back: a new, empty account that can bind again.
    again = dev_login(client, "closing")
    assert again["user"]["identity_bound"] is False and again["user"]["id"] != closed.id
    headers = auth(again["access_token"])
    bind(client, headers, "张三", number)
    client.put("/v1/me/consents/credit_points", headers=headers,
               json={"granted": True, "policy_version": "2026-01"})
    assert client.get("/v1/me/points", headers=headers).json["points"] == 1010


def test_access_log_retention(app, client, session):
    from points.people.accounts import record_access

    person = resident(client)
    subject_id = session.query(User).filter(User.subject_id.is_not(None)).one().subject_id
    old = record_access(session, subject_id, "department", "inspection", organisation="市场监管局")
    old.at = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    record_access(session, subject_id, "department", "inspection", organisation="市场监管局")
    session.commit()
    result = app.test_cli_runner().invoke(args=["points", "sweep"])
    assert "purged_access_log 1" in result.output
    assert session.query(AccessLogEntry).count() == 1
    log = client.get("/v1/me/access-log", headers=person["headers"]).json
    assert len(log) == 1 and log[0]["purpose"] == "inspection"


def test_closing_the_account_ends_its_report_shares(client):
    worker = resident(client)
    viewer = resident(client)
    client.put("/v1/me/worker-profile", headers=worker["headers"],
               json={"occupation": "housekeeping"})
    share = client.post("/v1/me/report-shares", headers=worker["headers"],
                        json={"ttl_minutes": 60}).json
    assert client.get(f"/v1/reports/{share['token']}", headers=viewer["headers"]).status_code == 200
    assert client.delete("/v1/me", headers=worker["headers"]).status_code == 204
    assert client.get(f"/v1/reports/{share['token']}", headers=viewer["headers"]).status_code == 410
