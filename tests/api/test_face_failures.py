"""Face verification when WeChat fails in the ways tests/api/test_face_verification.py
leaves out: WeChat hanging past the client's timeout, nothing listening at all, and
`queryVerifyInfo` refusing the request (WeChat forgot or expired the verify_id on its
side). Each binds nothing, keeps no personal data it does not need, and audits the
out_seq_no."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from werkzeug import Response

from points.models import AuditEntry, FaceVerification, User
from tests.builders.face import NAME, finish, signed_in, start
from tests.builders.residents import valid_id


def _audits(session, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                .order_by(AuditEntry.id)).scalars())


@pytest.fixture
def short_timeout(app):
    """The face verifier's WeChat client waits 0.3 s at most (the stub's is 2 s)."""
    client = app.state.face.client
    saved, client.timeout = client.timeout, 0.3
    yield client
    client.timeout = saved


def test_wechat_hanging_past_the_timeout_is_503(client, face_wechat, session, short_timeout):
    number = valid_id(seq=231)
    headers = signed_in(client, face_wechat, "ff-slow", number)

    def slow(request):
        time.sleep(1.0)
        return Response("{}", content_type="application/json")

    # The token comes first; the verification call hangs.
    face_wechat.server.clear()
    face_wechat.server.expect_request("/cgi-bin/stable_token", method="POST").respond_with_json(
        {"access_token": "token-slow", "expires_in": 7200})
    face_wechat.server.expect_request("/cityservice/face/identify/getverifyid",
                                      method="POST").respond_with_handler(slow)
    began = time.monotonic()
    r = client.post("/v1/me/identity/verifications", headers=headers,
                    json={"name": NAME, "id_number": number})
    assert r.status_code == 503 and r.json["error_code"] == "WECHAT_UNAVAILABLE", r.json
    assert r.headers["Retry-After"]
    assert time.monotonic() - began < 1.0  # the client gave up, it did not wait it out
    session.expire_all()
    assert session.execute(select(FaceVerification)).first() is None
    assert _audits(session, "identity.verification_started") == []


def test_nothing_listening_is_503(app, client, face_wechat, session):
    number = valid_id(seq=232)
    headers = signed_in(client, face_wechat, "ff-gone", number)
    started = start(client, headers, number)
    wechat = app.state.face.client
    saved, wechat.base_url = wechat.base_url, "http://127.0.0.1:9"  # discard: refused
    try:
        r = client.put("/v1/me/identity", headers=headers,
                       json={"verify_id": started["verify_id"]})
    finally:
        wechat.base_url = saved
    assert r.status_code == 503 and r.json["error_code"] == "WECHAT_UNAVAILABLE", r.json
    session.expire_all()
    row = session.execute(select(FaceVerification)).scalar_one()
    assert row.verify_ret is None and row.bound_at is None
    assert session.execute(select(User.subject_id)).scalar_one() is None
    # WeChat back: the verification was not spent by the outage.
    assert finish(client, headers, started["verify_id"])["verified_at"]


def test_query_refused_by_wechat_binds_nothing_and_is_audited(client, face_wechat, session):
    """WeChat no longer knows the verify_id (it expired on WeChat's side before ours):
    queryVerifyInfo answers an errcode instead of a verify_ret."""
    number = valid_id(seq=233)
    headers = signed_in(client, face_wechat, "ff-forgotten", number)
    started = start(client, headers, number)
    face_wechat.sessions.pop(started["verify_id"])
    r = client.put("/v1/me/identity", headers=headers, json={"verify_id": started["verify_id"]})
    assert r.status_code == 422 and r.json["error_code"] == "FACE_VERIFICATION_FAILED", r.json
    assert "verify_ret" not in r.json  # WeChat gave no result, it refused the request
    assert client.get("/v1/me", headers=headers).json["identity_bound"] is False
    session.expire_all()
    row = session.execute(select(FaceVerification)).scalar_one()
    assert row.verify_ret is None and row.bound_at is None and row.subject_id is None
    refused = _audits(session, "identity.verification_refused")
    assert [(a.target_id, a.after) for a in refused] == [
        (str(row.id), {"out_seq_no": row.out_seq_no, "wechat_errcode": 74001})]
    assert _audits(session, "identity.verification_checked") == []
    # A fresh verification binds.
    assert finish(client, headers, start(client, headers, number)["verify_id"])["verified_at"]


def test_one_access_token_serves_every_call(client, face_wechat):
    """The shared access token (stable_token, kept in Redis) is fetched once for both
    steps of two residents' verifications."""
    for seq, openid in ((234, "ff-one"), (235, "ff-two")):
        number = valid_id(seq=seq)
        headers = signed_in(client, face_wechat, openid, number)
        finish(client, headers, start(client, headers, number)["verify_id"])
    assert face_wechat.calls.count("stable_token") == 1
    assert face_wechat.calls.count("getverifyid") == face_wechat.calls.count(
        "queryverifyinfo") == 2
