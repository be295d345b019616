"""Notifications: a negative record is noticed to the person when it is stored
(《征信业管理条例》 Art. 15) with its type, department, document number and how to
object or repair; corrections, endings, revocations, level changes, credit checks
and report views are noticed too; each goes out on WeChat through the outbox; the
list pages fast with thousands of notices; read, read-all; notices follow the
person's binding."""
from __future__ import annotations

import time

from sqlalchemy import select

from points.models import Notification
from points.models.workflows import OutboxMessage
from tests.builders.clock import frozen_at
from tests.builders.departments import department, push
from tests.builders.residents import auth, bind, dev_login, resident, valid_id

TODAY = "2026-06-15"
URL = "/v1/me/notifications"


def notices(client, headers, **query) -> list[dict]:
    r = client.get(URL, headers=headers, query_string=query)
    assert r.status_code == 200, r.json
    return r.json


def outbox_events(session) -> list[tuple[str, int | None]]:
    session.expire_all()
    return [(m.event, m.user_id) for m in session.execute(
        select(OutboxMessage).order_by(OutboxMessage.id)).scalars()]


def test_negative_record_is_noticed_when_stored(app, client, session):
    with frozen_at(TODAY):
        dept = department(app, client, "market", name="雨花区市场监督管理局")
        number = valid_id(seq=501)
        who = resident(client, id_number=number, consents=())
        result = push(client, dept,
                      {"type": "admin.penalty.general", "id_number": number,
                       "decided_on": "2026-06-10",
                       "details": {"document_no": "雨市监罚〔2026〕17号"}},
                      {"type": "donation.blood", "id_number": number,
                       "occurred_on": "2026-06-01"})
        record_id = result["accepted"][0]["record_id"]
        r = client.get(URL, headers=who["headers"])
        assert r.status_code == 200 and "X-Pagination" in r.headers
        [notice] = r.json  # the blood donation is not negative: no notice of it
        assert notice["kind"] == "record_negative" and notice["read_at"] is None
        assert notice["ref"] == {"type": "record", "id": record_id}
        assert notice["title"] == "新增失信记录告知"
        for part in ("雨花区市场监督管理局", "行政处罚（一般）", "雨市监罚〔2026〕17号",
                     "第十五条", "异议", "修复", "本人说明"):
            assert part in notice["body"], part
        # Sent on WeChat too (where the person subscribed: WeChat decides, 43101).
        assert ("record_negative", who["user"]["id"]) in outbox_events(session)
        # Sending the same record again tells nothing new.
        push(client, dept, {"source_ref": "again", "type": "admin.penalty.minor",
                            "id_number": number, "decided_on": "2026-06-11"})
        assert len(notices(client, who["headers"])) == 2
        r = client.post("/v1/dept/records", headers=dept, json={"records": [{
            "source_ref": "again", "type": "admin.penalty.minor",
            "subject": {"id_number": number, "name": "张三"}, "decided_on": "2026-06-11"}]})
        assert r.json["accepted"][0]["result"] == "unchanged"
        assert len(notices(client, who["headers"])) == 2


def test_changes_levels_checks_and_views_are_noticed(app, client, session):
    with frozen_at(TODAY):
        dept = department(app, client, "commerce", name="商务局")
        number = valid_id(seq=502)
        who = resident(client, id_number=number, name="王小花")
        push(client, dept, {"source_ref": "p1", "type": "admin.penalty.general",
                            "id_number": number, "name": "王小花",
                            "decided_on": "2026-06-10"})
        # Corrected: the department sends the record again with another date.
        push(client, dept, {"source_ref": "p1", "type": "admin.penalty.general",
                            "id_number": number, "name": "王小花",
                            "decided_on": "2026-06-09"})
        push(client, dept, {"source_ref": "p2", "type": "admin.penalty.serious",
                            "id_number": number, "name": "王小花",
                            "decided_on": "2026-06-11"})
        assert client.post("/v1/dept/records/p1/end", headers=dept,
                           json={"ended_on": "2026-06-14"}).status_code == 200
        assert client.post("/v1/dept/records/p2/revoke", headers=dept,
                           json={"reason": "认定有误"}).status_code == 200
        r = client.post("/v1/dept/credit-checks", headers=dept, json={
            "subject": {"id_number": number, "name": "王小花"},
            "purpose": "administrative_license", "matter_ref": "XK-2026-9"})
        assert r.status_code == 201, r.json
        got = notices(client, who["headers"])
        kinds = [n["kind"] for n in got]
        assert kinds.count("record_negative") == 2
        changes = [n for n in got if n["kind"] == "record_changed"]
        assert {n["title"] for n in changes} == {"信用记录已更正", "信用记录已提前终止",
                                                 "信用记录已撤销"}
        levels = [n for n in got if n["kind"] == "level_changed"]
        # 1000 → 970 (A) → 870 (B) → back to A when the serious one is revoked.
        assert [n["body"][:17] for n in reversed(levels)] == [
            "您的信用等级由 A 级变为 B 级", "您的信用等级由 B 级变为 A 级"]
        [checked] = [n for n in got if n["kind"] == "credit_checked"]
        assert "商务局" in checked["body"] and "行政许可" in checked["body"]
        assert "XK-2026-9" in checked["body"]
        assert got == sorted(got, key=lambda n: n["id"], reverse=True)  # newest first
        events = {e for e, _ in outbox_events(session)}
        assert {"record_negative", "record_changed", "level_changed",
                "credit_checked"} <= events


def test_report_views_are_noticed(app, client):
    with frozen_at(TODAY):
        department(app, client, "commerce", ["worker.identity_verified"])
        number = valid_id(seq=503)
        headers = auth(dev_login(client, "notice-worker")["access_token"])
        bind(client, headers, "王小花", number)
        assert client.put("/v1/me/worker-profile", headers=headers,
                          json={"occupation": "housekeeping"}).status_code == 200
        token = client.post("/v1/me/report-shares", headers=headers,
                            json={"ttl_minutes": 60}).json["token"]
        assert client.get(f"/r/{token}").status_code == 200
        client.get(f"/v1/reports/{token}", headers=headers)  # the worker: not a view
        [viewed] = notices(client, headers)
        assert viewed["kind"] == "report_viewed" and "报告编号" in viewed["body"]


def test_read_one_read_all_and_filters(app, client):
    with frozen_at(TODAY):
        dept = department(app, client)
        number = valid_id(seq=504)
        who = resident(client, id_number=number, consents=())
        for i in range(3):
            push(client, dept, {"type": "admin.penalty.minor", "id_number": number,
                                "decided_on": f"2026-06-1{i}"})
        first, second, third = notices(client, who["headers"])
        r = client.post(f"{URL}/{second['id']}/read", headers=who["headers"])
        assert r.status_code == 204
        assert client.post(f"{URL}/{second['id']}/read", headers=who["headers"]).status_code == 204
        assert [n["id"] for n in notices(client, who["headers"], unread="true")] == [
            first["id"], third["id"]]
        [read] = notices(client, who["headers"], unread="false")
        assert read["id"] == second["id"] and read["read_at"] is not None
        other = resident(client, id_number=valid_id(seq=505), consents=())
        r = client.post(f"{URL}/{first['id']}/read", headers=other["headers"])
        assert r.status_code == 404 and r.json["error_code"] == "NOTIFICATION_NOT_FOUND"
        assert client.get(URL, headers=who["headers"],
                          query_string={"unread": "maybe"}).status_code == 422
        assert client.post(f"{URL}/read-all", headers=who["headers"]).status_code == 204
        assert notices(client, who["headers"], unread="true") == []
        assert client.post(f"{URL}/read-all", headers=who["headers"]).status_code == 204
        assert client.get(URL).status_code == 401


def test_notices_wait_for_the_binding_and_follow_a_move(app, client):
    with frozen_at(TODAY):
        dept = department(app, client)
        number = valid_id(seq=506)
        push(client, dept, {"type": "admin.penalty.minor", "id_number": number,
                            "decided_on": "2026-06-10"})
        first = resident(client, id_number=number, consents=())
        [waiting] = notices(client, first["headers"])
        assert waiting["kind"] == "record_negative"
        # The same person binds another WeChat account by face verification.
        second = resident(client, id_number=number, consents=())
        assert [n["kind"] for n in notices(client, second["headers"])] == ["record_negative"]
        assert [n["kind"] for n in notices(client, first["headers"])] == ["identity_moved"]
        # Closing the account: its own notice goes, the person's wait for the next one.
        assert client.delete("/v1/me", headers=second["headers"]).status_code == 204
        third = resident(client, id_number=number, consents=())
        assert [n["kind"] for n in notices(client, third["headers"])] == ["record_negative"]


def test_thousands_of_notices_page_fast(app, client, session):
    from points.infra.db import utcnow

    who = resident(client, id_number=valid_id(seq=507), consents=())
    user_id = who["user"]["id"]
    now = utcnow()
    session.execute(Notification.__table__.insert(), [
        {"user_id": user_id, "kind": "credit_checked", "dedupe_key": f"bulk:{i}",
         "params": {"department": "税务局", "purpose": "inspection", "matter_ref": f"M{i}"},
         "created_at": now, "read_at": now if i % 2 else None} for i in range(5000)])
    session.commit()
    started = time.perf_counter()
    r = client.get(URL, headers=who["headers"],
                   query_string={"page": 40, "page_size": 50, "unread": "true"})
    elapsed = time.perf_counter() - started
    assert r.status_code == 200
    assert len(r.json) == 50 and r.json[0]["body"].startswith("税务局因办理监督检查事项")
    import json

    assert json.loads(r.headers["X-Pagination"])["total"] == 2500
    assert elapsed < 2.0, elapsed


def test_notices_in_english_when_asked(app, client):
    with frozen_at(TODAY):
        dept = department(app, client, "tax", name="税务局")
        number = valid_id(seq=508)
        who = resident(client, id_number=number, consents=())
        push(client, dept, {"type": "admin.penalty.general", "id_number": number,
                            "decided_on": "2026-06-10"})
        r = client.get(URL, headers={**who["headers"], "Accept-Language": "en"})
        [notice] = r.json
        assert notice["title"] == "Notice of a new negative record"
        assert "Art. 15" in notice["body"] and "general negative record" in notice["body"]
        assert notices(client, who["headers"])[0]["title"] == "新增失信记录告知"
