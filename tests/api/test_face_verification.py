"""Face verification (人脸核身) before any binding: WeChat's getVerifyId and
queryVerifyInfo against a local stub (tests/builders/face_stub.py), every failure included,
and the development stand-in that production cannot have."""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
import time_machine
from sqlalchemy import select

from points.models import AuditEntry, FaceVerification, User
from tests.builders.face import NAME, finish, signed_in, start
from tests.builders.residents import auth, dev_login, valid_id


def audits(session, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                .order_by(AuditEntry.id)).scalars())


def test_cert_hash_is_computed_as_wechat_documents():
    from points.infra.wechat import cert_hash

    # The example of WeChat's documentation (queryVerifyInfo, 注意事项).
    assert cert_hash("张三", "310101199801011234") == (
        "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b")


def test_verified_binding_keeps_only_what_it_must(client, face_wechat, session):
    number = valid_id(seq=201)
    headers = signed_in(client, face_wechat, "fv-ok", number)
    started = start(client, headers, number)
    assert started["expires_in"] == 3600 and started["verify_id"]
    sent = face_wechat.sessions[started["verify_id"]]
    assert sent["openid"] == "dev:fv-ok" and 5 <= len(sent["out_seq_no"]) <= 32
    assert sent["cert"] == {"cert_type": "IDENTITY_CARD", "cert_name": NAME, "cert_no": number}
    assert client.get("/v1/me", headers=headers).json["identity_bound"] is False

    body = finish(client, headers, started["verify_id"], phone="13800001111")
    assert body["name_masked"] == "王*明" and body["verified_at"] and body["eligible"] is True
    assert body["phone_masked"] == "138****1111"
    me = client.get("/v1/me", headers=headers).json
    assert me["identity_bound"] is True and me["identity_verified"] is True

    row = session.execute(select(FaceVerification)).scalar_one()
    assert row.verify_ret == 10000 and row.bound_at and row.checked_at and row.subject_id
    assert row.cert_hash == sent["cert_hash"] and row.out_seq_no == sent["out_seq_no"]
    assert row.name_enc is None and row.id_number_enc is None  # not needed after binding
    started_audit = audits(session, "identity.verification_started")
    checked = audits(session, "identity.verification_checked")
    assert started_audit[0].after["out_seq_no"] == row.out_seq_no
    assert checked[0].after == {"out_seq_no": row.out_seq_no, "verify_ret": 10000}
    # The same request again (a client retrying) answers the same.
    assert finish(client, headers, started["verify_id"])["id_number_masked"] == \
        body["id_number_masked"]
    assert face_wechat.calls.count("queryverifyinfo") == 1


def test_name_and_number_alone_need_face_verification(client, face_wechat, session):
    headers = signed_in(client, face_wechat, "fv-typed", valid_id(seq=202))
    r = client.put("/v1/me/identity", headers=headers,
                   json={"name": NAME, "id_number": valid_id(seq=202)})
    assert r.status_code == 422 and r.json["error_code"] == "FACE_VERIFICATION_REQUIRED"
    assert client.get("/v1/me", headers=headers).json["identity_bound"] is False
    assert "getverifyid" not in face_wechat.calls
    r = client.put("/v1/me/identity", headers=headers, json={"verify_id": "x", "name": NAME})
    assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR"


def test_wechat_down(client, face_wechat):
    number = valid_id(seq=203)
    headers = signed_in(client, face_wechat, "fv-down", number)
    face_wechat.down = True
    r = client.post("/v1/me/identity/verifications", headers=headers,
                    json={"name": NAME, "id_number": number})
    assert r.status_code == 503 and r.json["error_code"] == "WECHAT_UNAVAILABLE"
    assert r.headers["Retry-After"]
    face_wechat.down = False
    started = start(client, headers, number)
    face_wechat.down = True
    r = client.put("/v1/me/identity", headers=headers, json={"verify_id": started["verify_id"]})
    assert r.status_code == 503 and r.json["error_code"] == "WECHAT_UNAVAILABLE"
    assert client.get("/v1/me", headers=headers).json["identity_bound"] is False
    face_wechat.down = False  # the verification was not spent by the outage
    assert finish(client, headers, started["verify_id"])["verified_at"]


def test_wechat_refusing_the_request(client, face_wechat, session):
    number = valid_id(seq=204)
    headers = signed_in(client, face_wechat, "fv-refused", number)
    face_wechat.refuse_errcode = 40003
    r = client.post("/v1/me/identity/verifications", headers=headers,
                    json={"name": NAME, "id_number": number})
    assert r.status_code == 422 and r.json["error_code"] == "FACE_VERIFICATION_FAILED"
    assert session.execute(select(FaceVerification)).first() is None
    refused = audits(session, "identity.verification_refused")
    assert len(refused) == 1 and refused[0].after["wechat_errcode"] == 40003
    # An invalid ID number never reaches WeChat.
    r = client.post("/v1/me/identity/verifications", headers=headers,
                    json={"name": NAME, "id_number": number[:-1] + "0" if number[-1] != "0"
                          else number[:-1] + "1"})
    assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR"
    assert face_wechat.calls.count("getverifyid") == 1


@pytest.mark.parametrize("case", ["cancelled", "someone_else", "wrong_name"])
def test_verify_ret_other_than_10000_binds_nothing(client, face_wechat, session, case):
    number = valid_id(seq=205)
    headers = signed_in(client, face_wechat, "fv-ret", number)
    name = NAME
    if case == "cancelled":
        face_wechat.cancelled.add("dev:fv-ret")
    elif case == "someone_else":
        face_wechat.faces["dev:fv-ret"] = valid_id(seq=206)
    else:
        name = "王小名"
    started = start(client, headers, number, name=name)
    r = client.put("/v1/me/identity", headers=headers, json={"verify_id": started["verify_id"]})
    assert r.status_code == 422 and r.json["error_code"] == "FACE_VERIFICATION_FAILED"
    expected = {"cancelled": 90002, "someone_else": 10004, "wrong_name": 10003}[case]
    assert r.json["verify_ret"] == expected
    assert client.get("/v1/me", headers=headers).json["identity_bound"] is False
    session.expire_all()
    assert session.execute(select(User.subject_id)).scalar_one() is None
    row = session.execute(select(FaceVerification)).scalar_one()
    assert row.verify_ret == expected and row.bound_at is None  # the result is kept
    assert audits(session, "identity.verification_checked")[0].after == {
        "out_seq_no": row.out_seq_no, "verify_ret": expected}


def test_expired_verify_id(client, face_wechat):
    number = valid_id(seq=207)
    headers = signed_in(client, face_wechat, "fv-late", number)
    started = start(client, headers, number)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3601), tick=False):
        headers = auth(dev_login(client, "fv-late")["access_token"])
        r = client.put("/v1/me/identity", headers=headers,
                       json={"verify_id": started["verify_id"]})
        assert r.status_code == 404 and r.json["error_code"] == "FACE_VERIFICATION_NOT_FOUND"
    assert "queryverifyinfo" not in face_wechat.calls


def test_another_accounts_verify_id(client, face_wechat):
    number = valid_id(seq=208)
    owner = signed_in(client, face_wechat, "fv-owner", number)
    thief = signed_in(client, face_wechat, "fv-thief", valid_id(seq=209))
    started = start(client, owner, number)
    r = client.put("/v1/me/identity", headers=thief, json={"verify_id": started["verify_id"]})
    assert r.status_code == 404 and r.json["error_code"] == "FACE_VERIFICATION_NOT_FOUND"
    r = client.put("/v1/me/identity", headers=thief, json={"verify_id": "vid-made-up"})
    assert r.status_code == 404 and r.json["error_code"] == "FACE_VERIFICATION_NOT_FOUND"
    assert client.get("/v1/me", headers=thief).json["identity_bound"] is False
    finish(client, owner, started["verify_id"])


def test_replayed_verify_id(client, face_wechat):
    """A verify_id binds once: after the person moved their binding to a new account,
    the old account replaying its own verification gets nothing back."""
    number = valid_id(seq=210)
    old_phone = signed_in(client, face_wechat, "fv-old", number)
    first = start(client, old_phone, number)
    finish(client, old_phone, first["verify_id"])
    new_phone = signed_in(client, face_wechat, "fv-new", number)
    finish(client, new_phone, start(client, new_phone, number)["verify_id"])
    assert client.get("/v1/me", headers=old_phone).json["identity_bound"] is False
    r = client.put("/v1/me/identity", headers=old_phone, json={"verify_id": first["verify_id"]})
    assert r.status_code == 404 and r.json["error_code"] == "FACE_VERIFICATION_NOT_FOUND"
    assert client.get("/v1/me", headers=old_phone).json["identity_bound"] is False
    assert face_wechat.calls.count("queryverifyinfo") == 2


def test_a_refused_access_token_is_refreshed_once(client, face_wechat):
    number = valid_id(seq=211)
    headers = signed_in(client, face_wechat, "fv-token", number)
    face_wechat.stale_tokens = 1
    started = start(client, headers, number)
    assert face_wechat.calls[:4] == ["stable_token", "getverifyid", "stable_token", "getverifyid"]
    face_wechat.stale_tokens = 2  # refused again after the refresh: WeChat is not usable
    r = client.put("/v1/me/identity", headers=headers, json={"verify_id": started["verify_id"]})
    assert r.status_code == 503 and r.json["error_code"] == "WECHAT_UNAVAILABLE"
    assert finish(client, headers, started["verify_id"])["verified_at"]


def test_stand_in_binds_in_development_only(client):
    """The test app runs the development stand-in: a name and ID number bind, so
    `make run` can be tried without WeChat."""
    from api.config import load_config

    headers = auth(dev_login(client, "fv-dev")["access_token"])
    r = client.put("/v1/me/identity", headers=headers,
                   json={"name": NAME, "id_number": valid_id(seq=212)})
    assert r.status_code == 200 and r.json["verified_at"]
    assert load_config({"APP_ENV": "development"})["FACE_VERIFIER"] == "stand-in"


def test_stand_in_cannot_be_enabled_in_production(monkeypatch):
    from api.config import ConfigError, load_config
    from points.people.face import StandInVerifier

    production = {"APP_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
                  "DATA_KEY": secrets.token_urlsafe(32),
                  "DATABASE_URL": "postgresql://db/credit", "REDIS_URL": "redis://r/0",
                  "WECHAT_APPID": "wx1", "WECHAT_SECRET": "secret"}
    for key, value in production.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FACE_VERIFIER", raising=False)
    assert load_config()["FACE_VERIFIER"] == "wechat"
    monkeypatch.setenv("FACE_VERIFIER", "stand-in")
    with pytest.raises(ConfigError, match="FACE_VERIFIER"):
        load_config()
    monkeypatch.delenv("FACE_VERIFIER")
    with pytest.raises(ConfigError, match="FACE_VERIFIER"):
        load_config({"FACE_VERIFIER": "stand-in"})
    with pytest.raises(RuntimeError):
        StandInVerifier("production")


def test_the_sweep_erases_name_and_number_of_unused_verifications(app, client, session):
    from points.infra.db import today
    from points.scores import jobs

    headers = auth(dev_login(client, "fv-sweep")["access_token"])
    start(client, headers, valid_id(seq=213))
    state = app.state

    def sweep():
        return jobs.sweep(state.db.new_session, state.redis, today(),
                          access_log_retention_days=app.config["ACCESS_LOG_RETENTION_DAYS"])

    assert sweep()["erased_face_verifications"] == 0  # not expired yet
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3601), tick=False):
        assert sweep()["erased_face_verifications"] == 1
    session.expire_all()
    row = session.execute(select(FaceVerification)).scalar_one()
    assert row.name_enc is None and row.id_number_enc is None
    assert row.out_seq_no and row.cert_hash and row.verify_id  # what the audit needs stays


def test_an_account_bound_to_one_number_cannot_verify_another(client, face_wechat):
    mine, other = valid_id(seq=214), valid_id(seq=215)
    headers = signed_in(client, face_wechat, "fv-bound", mine)
    finish(client, headers, start(client, headers, mine)["verify_id"])
    r = client.post("/v1/me/identity/verifications", headers=headers,
                    json={"name": NAME, "id_number": other})
    assert r.status_code == 409 and r.json["error_code"] == "IDENTITY_ALREADY_BOUND"
    assert face_wechat.calls.count("getverifyid") == 1  # WeChat was not asked
    # Verifying again as the same person is fine (e.g. to bind a new phone number).
    finish(client, headers, start(client, headers, mine)["verify_id"], phone="13900002222")
