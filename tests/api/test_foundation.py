"""Foundation: errors, OpenAPI, health, identity, consents, access control."""
from __future__ import annotations

from tests.builders.residents import auth, bind, dev_login, resident, valid_id


def test_health(client):
    r = client.get("/v1/health")
    assert r.status_code == 200
    assert r.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_openapi_documents_routes(client):
    spec = client.get("/openapi.json").json
    assert "/v1/me/identity" in spec["paths"]
    put = spec["paths"]["/v1/me/identity"]["put"]
    assert {"200", "401", "409", "422"} <= set(put["responses"])
    assert put["summary"]


def test_404_and_405_have_error_codes(client):
    r = client.get("/v1/nowhere")
    assert r.status_code == 404 and r.json["error_code"] == "NOT_FOUND"
    r = client.delete("/v1/health")
    assert r.status_code == 405 and r.json["error_code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in r.headers["Allow"]


def test_malformed_json_is_400_not_500(client):
    tokens = dev_login(client)
    r = client.put("/v1/me/identity", data="{not json", content_type="application/json",
                   headers=auth(tokens["access_token"]))
    assert r.status_code == 400 and r.json["error_code"] == "MALFORMED_JSON"


def test_wrong_content_type_is_415(client):
    tokens = dev_login(client)
    r = client.put("/v1/me/identity", data="name=x", content_type="text/plain",
                   headers=auth(tokens["access_token"]))
    assert r.status_code == 415 and r.json["error_code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_oversized_body_is_413(client, app):
    tokens = dev_login(client)
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    r = client.put("/v1/me/identity", data=big, content_type="application/json",
                   headers=auth(tokens["access_token"]))
    assert r.status_code == 413 and r.json["error_code"] == "PAYLOAD_TOO_LARGE"


def test_oversized_field_is_422(client):
    tokens = dev_login(client)
    r = client.put("/v1/me/identity", json={"name": "张" * 500, "id_number": valid_id()},
                   headers=auth(tokens["access_token"]))
    assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR"
    assert "name" in r.json["errors"]["json"]


def test_identity_binding_masks_and_encrypts(client, app, session):
    from sqlalchemy import text

    tokens = dev_login(client)
    number = valid_id(birth="19900101", seq=123)
    r = bind(client, auth(tokens["access_token"]), "张三", number, phone="13812345678")
    assert r.json["name_masked"] == "张*"
    assert r.json["id_number_masked"] == number[:4] + "*" * 10 + number[-4:]
    assert r.json["phone_masked"] == "138****5678"
    assert r.json["eligible"] is True
    assert number not in r.get_data(as_text=True)
    # The raw database holds the number only encrypted.
    with app.state.db.engine.connect() as conn:
        for table in ("subjects", "users", "face_verifications", "audit_log"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert all(number not in str(v) and "13812345678" not in str(v) for v in row)
    me = client.get("/v1/me", headers=auth(tokens["access_token"])).json
    assert me["identity_bound"] is True and me["identity"]["name_masked"] == "张*"
    assert me["identity_verified"] is True and me["identity"]["verified_at"]


def test_invalid_id_numbers_refused(client):
    headers = auth(dev_login(client)["access_token"])
    good = valid_id()
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    for number, reason in [(bad_check, "check digit"), (valid_id(birth="19901301"), "date"),
                           ("1234", "18 characters")]:
        r = client.post("/v1/me/identity/verifications", json={"name": "张三", "id_number": number},
                        headers={**headers, "Accept-Language": "en"})
        assert r.status_code == 422, number
        assert reason in r.json["errors"]["json"]["id_number"][0]
    # Chinese by default
    r = client.post("/v1/me/identity/verifications",
                    json={"name": "张三", "id_number": bad_check}, headers=headers)
    assert r.status_code == 422 and r.json["errors"]["json"]["id_number"] == ["校验码不对"]


def test_retired_region_code_is_accepted(client):
    # 439999 is not in any region table, but the number is otherwise valid.
    headers = auth(dev_login(client)["access_token"])
    bind(client, headers, "王五", valid_id(region="439999"))


def test_minor_is_not_eligible(client):
    headers = auth(dev_login(client)["access_token"])
    r = bind(client, headers, "小明", valid_id(birth="20150101"))
    assert r.json["eligible"] is False


def test_verified_binding_takes_a_number_bound_elsewhere(client):
    """No IDENTITY_TAKEN for a verified binding: the earlier account loses the number
    (tests/api/test_identity_move.py follows the move in full)."""
    number = valid_id(seq=555)
    earlier = resident(client, id_number=number)
    headers = auth(dev_login(client)["access_token"])
    bind(client, headers, "张三", number)
    assert client.get("/v1/me", headers=earlier["headers"]).json["identity_bound"] is False


def test_consents_keep_history(client):
    headers = auth(dev_login(client)["access_token"])
    for granted in (True, False, True):
        r = client.put("/v1/me/consents/credit_points", headers=headers,
                       json={"granted": granted, "policy_version": "2026-01"})
        assert r.status_code == 200
    body = client.get("/v1/me/consents", headers=headers).json
    current = {c["scope"]: c["granted"] for c in body["consents"]}
    assert current == {"credit_points": True, "merchant_share": False}
    assert [h["granted"] for h in body["history"]] == [True, False, True]
    r = client.put("/v1/me/consents/everything", headers=headers,
                   json={"granted": True, "policy_version": "2026-01"})
    assert r.status_code == 422


def test_points_need_identity_then_consent(client):
    headers = auth(dev_login(client)["access_token"])
    r = client.get("/v1/me/points", headers=headers)
    assert r.status_code == 409 and r.json["error_code"] == "IDENTITY_REQUIRED"
    bind(client, headers, "张三", valid_id(seq=77))
    r = client.get("/v1/me/points", headers=headers)
    assert r.status_code == 403 and r.json["error_code"] == "CONSENT_REQUIRED"


def test_access_log_empty_then_paginated(client):
    person = resident(client)
    r = client.get("/v1/me/access-log", headers=person["headers"])
    assert r.status_code == 200 and r.json == []
    assert "X-Pagination" in r.headers


def test_security_headers(client):
    r = client.get("/v1/health")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "Access-Control-Allow-Origin" not in r.headers
    assert r.headers["X-Request-Id"]
