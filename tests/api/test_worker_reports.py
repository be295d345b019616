"""Housekeeping workers over HTTP: the worker profile and its safety code, shared
credit reports (view, review, revoke, expiry, PDF) and what a viewer may not see."""
from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from tests.builders.departments import push
from tests.builders.residents import resident, valid_id
from tests.builders.workers import NAME, TODAY, access_log, at, make_worker, share, sign_in


def keys_of(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


# ------------------------------------------------------------------ safety code

@pytest.mark.parametrize(("certificates", "code"), [
    ({}, "green"),
    ({"health": TODAY, "insurance": TODAY}, "green"),  # valid until today: still valid
    ({"health": "2026-06-14"}, "yellow"),  # expired yesterday
    ({"insurance": "2026-06-14"}, "yellow"),
    ({"insurance": None}, "yellow"),
    ({"background": None}, "yellow"),  # not checked yet is no finding, but not green
    ({"background": "flagged"}, "red"),
    ({"identity": False}, "red"),
])
def test_safety_code_colours(app, client, certificates, code):
    with at():
        worker = make_worker(app, client, valid_id(seq=11), **certificates)
        r = client.get("/v1/me/worker-profile", headers=worker["headers"])
    assert r.status_code == 200, r.json
    assert r.json["safety_code"] == code
    assert r.json["status"]["safety_code"] == code
    assert r.json["occupation"] == "housekeeping" and r.json["as_of"] == TODAY


def test_safety_code_turns_yellow_the_day_after_the_certificate_ends(app, client):
    with at():
        worker = make_worker(app, client, valid_id(seq=12), health=TODAY)
        body = client.get("/v1/me/worker-profile", headers=worker["headers"]).json
    assert body["safety_code"] == "green"
    assert body["status"]["health_certificate"] == {"valid": True, "valid_until": TODAY}
    with at("2026-06-16", hour=0, minute=1):
        body = client.get("/v1/me/worker-profile",
                          headers=sign_in(client, worker["openid"])).json
    assert body["safety_code"] == "yellow"
    assert body["status"]["health_certificate"] == {"valid": False, "valid_until": TODAY}


def test_worker_profile_needs_identity_and_a_known_occupation(app, client):
    headers = sign_in(client, "no-identity")
    r = client.put("/v1/me/worker-profile", headers=headers, json={"occupation": "housekeeping"})
    assert r.status_code == 409 and r.json["error_code"] == "IDENTITY_REQUIRED"
    person = resident(client, id_number=valid_id(seq=13), consents=())
    r = client.get("/v1/me/worker-profile", headers=person["headers"])
    assert r.status_code == 404 and r.json["error_code"] == "WORKER_PROFILE_NOT_FOUND"
    r = client.put("/v1/me/worker-profile", headers=person["headers"],
                   json={"occupation": "astronaut"})
    assert r.status_code == 422 and "occupation" in r.json["errors"]["json"]
    r = client.put("/v1/me/worker-profile", headers=person["headers"],
                   json={"occupation": "teacher", "merchant_id": "x"})
    assert r.status_code == 422 and "merchant_id" in r.json["errors"]["json"]
    r = client.put("/v1/me/worker-profile", headers=person["headers"],
                   json={"occupation": "teacher"})
    assert r.status_code == 200 and r.json["occupation"] == "teacher"
    r = client.put("/v1/me/worker-profile", headers=person["headers"],
                   json={"occupation": "lawyer"})
    assert r.status_code == 200 and r.json["occupation"] == "lawyer"
    assert client.get("/v1/me/worker-profile",
                      headers=person["headers"]).json["occupation"] == "lawyer"


def test_unknown_merchant_is_refused(app, client):
    person = resident(client, id_number=valid_id(seq=14), consents=())
    r = client.put("/v1/me/worker-profile", headers=person["headers"],
                   json={"occupation": "housekeeping", "merchant_id": 987654})
    assert r.status_code == 422 and "merchant_id" in r.json["errors"]["json"]


# ------------------------------------------------------------------ sharing

def test_share_view_review_revoke(app, client):
    with at():
        worker = make_worker(app, client, valid_id(seq=21))
        push(client, worker["dept"],
             {"type": "worker.training", "occurred_on": "2026-02-01", "id_number":
              worker["number"], "name": NAME, "details": {"course": "育婴护理", "hours": 40}},
             {"type": "worker.skill_certificate", "occurred_on": "2026-03-01",
              "id_number": worker["number"], "name": NAME,
              "details": {"name": "家政服务员", "grade": "四级"}},
             {"type": "housekeeping.verified_complaint", "decided_on": "2026-06-10",
              "id_number": worker["number"], "name": NAME,
              "details": {"complainant": "李大妈", "summary": "打碎花瓶"}})
        created = share(client, worker, ttl=120)
        # The link is the web page a family opens; the QR code encodes that link.
        assert created["url"] == f"http://127.0.0.1:8000/r/{created['token']}"
        assert created["qr_svg"].startswith("<svg")
        assert len(created["token"]) >= 40

        family = sign_in(client, "family-1")
        r = client.get(f"/v1/reports/{created['token']}", headers=family)
        assert r.status_code == 200, r.json
        report = r.json
        text = r.get_data(as_text=True)

    # What the family sees ...
    assert report["safety_code"] == "green"
    assert report["name_masked"] == "王*花"
    assert report["id_number_masked"] == worker["number"][:4] + "*" * 10 + worker["number"][-4:]
    assert report["level"] == "A"
    assert report["identity"] == {"verified": True, "verified_on": "2026-01-05"}
    assert report["background"] == {"result": "clear", "checked_on": "2026-01-06"}
    assert report["insurance"] == {"valid": True, "valid_until": "2026-12-31"}
    assert report["training"] == [{"course": "育婴护理", "hours": 40,
                                   "completed_on": "2026-02-01"}]
    assert report["skill_certificates"][0]["grade"] == "四级"
    assert report["negative_records"] == [{
        "type": "housekeeping.verified_complaint", "title": "家政服务有效投诉",
        "class": "minor", "decided_on": "2026-06-10", "counted_until": "2026-09-10",
        "department": {"code": "commerce", "name": "commerce 局"}, "document_no": None,
        "statement": None}]
    assert report["level_title"] == "信用良好"
    assert re.fullmatch(r"CSXY-20260615-\d{8}", report["report_no"])
    assert str(created["id"]) in report["report_no"]
    assert report["reviews"] == {"count": 0, "average": None}
    # ... and what it never sees: the ID number, points, details about other people.
    assert worker["number"] not in text
    assert "points" not in keys_of(report) and '"points"' not in text
    assert "李大妈" not in text and "花瓶" not in text

    with at(minute=5):
        # The view is in the worker's access log.
        log = access_log(client, worker["headers"])
        assert [(e["actor_kind"], e["purpose"]) for e in log] == [("report_viewer",
                                                                    "credit_report")]
        # Review once; a second review through the same share is refused.
        r = client.post(f"/v1/reports/{created['token']}/reviews", headers=family,
                        json={"rating": 4, "comment": "准时，细心"})
        assert r.status_code == 201, r.json
        assert r.json["rating"] == 4 and r.json["comment"] == "准时，细心"
        r = client.post(f"/v1/reports/{created['token']}/reviews", headers=family,
                        json={"rating": 1})
        assert r.status_code == 409 and r.json["error_code"] == "ALREADY_REVIEWED"
        report = client.get(f"/v1/reports/{created['token']}", headers=family).json
        assert report["reviews"] == {"count": 1, "average": 4.0}
        # The worker sees the review (without the reviewer) and the share's views.
        mine = client.get("/v1/me/reviews", headers=worker["headers"]).json
        assert [(x["rating"], x["comment"]) for x in mine] == [(4, "准时，细心")]
        shares = client.get("/v1/me/report-shares", headers=worker["headers"]).json
        assert [(x["status"], x["views"]) for x in shares] == [("active", 2)]
        assert shares[0]["token_hint"] == created["token"][:6]

        # A review changes no points: the worker's level is what it was.
        assert report["level"] == "A"

        # Revoked: the link is gone, for viewing and for reviewing.
        r = client.delete(f"/v1/me/report-shares/{created['token']}", headers=worker["headers"])
        assert r.status_code == 204
        r = client.get(f"/v1/reports/{created['token']}", headers=family)
        assert r.status_code == 410 and r.json["error_code"] == "SHARE_EXPIRED"
        r = client.post(f"/v1/reports/{created['token']}/reviews",
                        headers=sign_in(client, "family-2"), json={"rating": 5})
        assert r.status_code == 410 and r.json["error_code"] == "SHARE_EXPIRED"
        shares = client.get("/v1/me/report-shares", headers=worker["headers"]).json
        assert shares[0]["status"] == "revoked"


def test_share_expires_with_time(app, client):
    with at():
        worker = make_worker(app, client, valid_id(seq=22))
        created = share(client, worker, ttl=30)
        assert created["expires_at"].startswith("2026-06-15T02:30:00")  # 10:30 in Shanghai
    with at(minute=29):
        r = client.get(f"/v1/reports/{created['token']}", headers=sign_in(client, "early"))
        assert r.status_code == 200
    with at(minute=30):
        r = client.get(f"/v1/reports/{created['token']}", headers=sign_in(client, "late"))
        assert r.status_code == 410 and r.json["error_code"] == "SHARE_EXPIRED"
        r = client.get(f"/v1/reports/{created['token']}.pdf", headers=sign_in(client, "late"))
        assert r.status_code == 410
        shares = client.get("/v1/me/report-shares",
                            headers=sign_in(client, worker["openid"])).json
        assert shares[0]["status"] == "expired"


def test_share_inputs_and_callers(app, client):
    with at():
        worker = make_worker(app, client, valid_id(seq=23))
        for ttl in (0, 1441, "60", None):
            r = client.post("/v1/me/report-shares", headers=worker["headers"],
                            json={"ttl_minutes": ttl})
            assert r.status_code == 422, ttl
        r = client.post("/v1/me/report-shares", headers=sign_in(client, "unbound"),
                        json={"ttl_minutes": 10})
        assert r.status_code == 409 and r.json["error_code"] == "IDENTITY_REQUIRED"
        created = share(client, worker, ttl=1440)
        token = created["token"]

        r = client.get("/v1/reports/not-a-real-token", headers=sign_in(client, "v"))
        assert r.status_code == 404
        assert client.get(f"/v1/reports/{token}").status_code == 401
        assert client.get(f"/v1/reports/{token}", headers=worker["dept"]).status_code == 401
        assert client.get(f"/v1/reports/{token}?format=xml",
                          headers=sign_in(client, "v")).status_code == 422
        # Someone else cannot revoke the worker's share.
        r = client.delete(f"/v1/me/report-shares/{token}", headers=sign_in(client, "v"))
        assert r.status_code == 404

        family = sign_in(client, "family")
        url = f"/v1/reports/{token}/reviews"
        r = client.post(url, headers=family, json={"rating": 5})
        assert r.status_code == 409 and r.json["error_code"] == "REPORT_NOT_VIEWED"
        assert client.get(f"/v1/reports/{token}", headers=family).status_code == 200
        for bad in ({"rating": 0}, {"rating": 6}, {"rating": "5"}, {},
                    {"rating": 5, "comment": "好" * 501}):
            assert client.post(url, headers=family, json=bad).status_code == 422, bad
        r = client.post(url, headers=worker["headers"], json={"rating": 5})
        assert r.status_code == 403 and r.json["error_code"] == "SELF_REVIEW"

        # The worker opening their own report is not someone else reading their credit.
        assert client.get(f"/v1/reports/{token}", headers=worker["headers"]).status_code == 200
        assert len(access_log(client, worker["headers"])) == 1

        # Revoking by the id shown in the list works too (the token is shown only once).
        share_id = created["id"]
        r = client.delete(f"/v1/me/report-shares/{share_id}", headers=worker["headers"])
        assert r.status_code == 204
        assert client.get(f"/v1/reports/{token}", headers=family).status_code == 410


# ------------------------------------------------------------------ PDF

def pdf_text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_printable_pdf(app, client):
    with at():
        worker = make_worker(app, client, valid_id(seq=31), insurance="2026-06-14")
        token = share(client, worker)["token"]
        family = sign_in(client, "family")
        text = pdf_text(client.get(f"/v1/reports/{token}.pdf", headers=family))
        assert "长沙市个人信用报告" in text
        assert "安心码" in text and "yellow" in text and "黄码" in text
        assert "王*花" in text and worker["number"] not in text
        assert re.search(r"信用等级：A（信用良好）", text)
        text = pdf_text(client.get(f"/v1/reports/{token}?format=pdf", headers=family))
        assert "长沙市个人信用报告" in text and "yellow" in text
        # Each PDF is a view in the worker's access log.
        assert len(access_log(client, worker["headers"])) == 2


def test_openapi_documents_the_worker_routes(client):
    spec = client.get("/openapi.json").json
    pdf = spec["paths"]["/v1/reports/{token}.pdf"]["get"]
    assert "application/pdf" in pdf["responses"]["200"]["content"]
    assert {"401", "404", "410"} <= set(pdf["responses"])
    assert {"201", "409", "410", "422"} <= set(
        spec["paths"]["/v1/reports/{token}/reviews"]["post"]["responses"])
    assert "/v1/me/worker-profile" in spec["paths"]
