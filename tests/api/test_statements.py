"""The person's statement (说明) on a record: written, replaced and removed by the
person, shown with the record, in departments' credit checks, on the worker's report
(JSON and web page) and in the export; nobody else can write one."""
from __future__ import annotations

from tests.builders.clock import frozen_at
from tests.builders.departments import department, push
from tests.builders.residents import auth, bind, dev_login, resident, valid_id

TODAY = "2026-06-15"
TEXT = "罚款已于2026年6月12日缴清，涉事商品已全部下架"


def penalised(app, client, seq: int, types: list[str] | None = None):
    dept = department(app, client, "commerce", types)
    number = valid_id(seq=seq)
    result = push(client, dept, {"type": "housekeeping.verified_complaint"
                                 if types else "admin.penalty.general",
                                 "id_number": number, "name": "王小花",
                                 "decided_on": "2026-06-10"})
    return dept, number, result["accepted"][0]["record_id"]


def test_put_replace_delete_and_shown_with_the_record(app, client):
    with frozen_at(TODAY):
        _dept, number, record_id = penalised(app, client, 401)
        who = resident(client, id_number=number, name="王小花", consents=("credit_points",))
        url = f"/v1/me/records/{record_id}/statement"
        r = client.put(url, headers=who["headers"], json={"text": "  " + TEXT + " "})
        assert r.status_code == 200, r.json
        assert r.json["text"] == TEXT and r.json["record_id"] == record_id
        again = client.put(url, headers=who["headers"], json={"text": TEXT})
        assert again.status_code == 200 and again.json["updated_at"] == r.json["updated_at"]
        record = client.get("/v1/me/records", headers=who["headers"]).json[0]
        assert record["statement"]["text"] == TEXT
        assert client.put(url, headers=who["headers"],
                          json={"text": "已整改"}).json["text"] == "已整改"
        exported = client.get("/v1/me/export", headers=who["headers"]).json
        assert exported["records"][0]["statement"]["text"] == "已整改"
        assert client.delete(url, headers=who["headers"]).status_code == 204
        assert client.delete(url, headers=who["headers"]).status_code == 204
        assert client.get("/v1/me/records", headers=who["headers"]).json[0]["statement"] is None


def test_bad_text_and_other_peoples_records(app, client):
    with frozen_at(TODAY):
        _dept, number, record_id = penalised(app, client, 402)
        who = resident(client, id_number=number, name="王小花", consents=("credit_points",))
        url = f"/v1/me/records/{record_id}/statement"
        for text in ("", "   ", "字" * 501):
            r = client.put(url, headers=who["headers"], json={"text": text})
            assert r.status_code == 422, (text, r.json)
        assert client.put(url, headers=who["headers"],
                          json={"text": "字" * 500}).status_code == 200
        other = resident(client, id_number=valid_id(seq=403), consents=("credit_points",))
        r = client.put(url, headers=other["headers"], json={"text": "不是我的"})
        assert r.status_code == 404 and r.json["error_code"] == "RECORD_NOT_FOUND"
        assert client.delete(url, headers=other["headers"]).status_code == 404
        r = client.put("/v1/me/records/999999/statement", headers=who["headers"],
                       json={"text": "x"})
        assert r.status_code == 404
        unbound = auth(dev_login(client)["access_token"])
        assert client.put(url, headers=unbound, json={"text": "x"}).status_code == 409
        assert client.get("/v1/me/records", headers=who["headers"]).json[0]["statement"][
            "text"] == "字" * 500


def test_departments_see_it_in_credit_checks(app, client):
    with frozen_at(TODAY):
        dept, number, record_id = penalised(app, client, 404)
        who = resident(client, id_number=number, name="王小花", consents=("credit_points",))
        client.put(f"/v1/me/records/{record_id}/statement", headers=who["headers"],
                   json={"text": TEXT})
        r = client.post("/v1/dept/credit-checks", headers=dept, json={
            "subject": {"id_number": number, "name": "王小花"},
            "purpose": "administrative_license", "matter_ref": "XK-1"})
        assert r.status_code == 201, r.json
        [record] = r.json["negative_records"]
        assert record["statement"] == TEXT
        assert record["department"]["code"] == "commerce"


def test_worker_report_shows_it_while_the_record_counts(app, client):
    types = ["housekeeping.verified_complaint", "worker.identity_verified"]
    with frozen_at(TODAY):
        _dept, number, record_id = penalised(app, client, 405, types)
        headers = auth(dev_login(client, "stmt-worker")["access_token"])
        bind(client, headers, "王小花", number)
        client.put("/v1/me/consents/credit_points", headers=headers,
                   json={"granted": True, "policy_version": "2026-01"})
        assert client.put("/v1/me/worker-profile", headers=headers,
                          json={"occupation": "housekeeping"}).status_code == 200
        assert client.put(f"/v1/me/records/{record_id}/statement", headers=headers,
                          json={"text": TEXT}).status_code == 200
        share = client.post("/v1/me/report-shares", headers=headers, json={"ttl_minutes": 60})
        assert share.status_code == 201, share.json
        token = share.json["token"]
        viewer = auth(dev_login(client)["access_token"])
        report = client.get(f"/v1/reports/{token}", headers=viewer).json
        assert report["negative_records"][0]["statement"] == TEXT
        page = client.get(f"/r/{token}").get_data(as_text=True)
        assert TEXT in page and "本人说明" in page
    with frozen_at("2026-12-01"):  # the complaint counts three months: then it is not shown
        viewer = auth(dev_login(client)["access_token"])
        share = client.post("/v1/me/report-shares",
                            headers=auth(dev_login(client, "stmt-worker")["access_token"]),
                            json={"ttl_minutes": 60})
        report = client.get(f"/v1/reports/{share.json['token']}", headers=viewer).json
        assert report["negative_records"] == []
        assert TEXT not in client.get(f"/r/{share.json['token']}").get_data(as_text=True)
