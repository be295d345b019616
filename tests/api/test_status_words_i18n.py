"""A state named inside a message is a word of the reader's language, not the state's
code (issue 21): a repair application already withdrawn, a decision's answer in the
resident's notice."""
from __future__ import annotations

import time_machine

from tests.builders.clock import at
from tests.builders.departments import department, record_for
from tests.builders.residents import apply, person

EN = {"Accept-Language": "en"}


def test_a_closed_application_names_its_state_in_the_readers_language(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        market = department(app, client, "market")
        zhang = person(client)
        record_id = record_for(client, market, zhang)
        repair_id = apply(client, zhang, record_id).json["id"]
        r = client.post(f"/v1/me/repairs/{repair_id}/withdraw", headers=zhang["headers"])
        assert r.status_code == 200 and r.json["status"] == "withdrawn"
        zh = client.post(f"/v1/me/repairs/{repair_id}/withdraw", headers=zhang["headers"])
        en = client.post(f"/v1/me/repairs/{repair_id}/withdraw",
                         headers={**zhang["headers"], **EN})
    assert zh.status_code == en.status_code == 409
    assert zh.json["error_code"] == en.json["error_code"] == "REPAIR_CLOSED"
    assert zh.json["current_status"] == en.json["current_status"] == "withdrawn"
    assert zh.json["message"] == "该申请的状态已是“已撤回”"
    assert en.json["message"] == "the application is withdrawn already"


def test_a_decision_notice_gives_the_answer_in_the_readers_language(app, client):
    with time_machine.travel(at("2026-09-30"), tick=False):
        market = department(app, client, "market")
        zhang = person(client)
        record_id = record_for(client, market, zhang)
        repair_id = apply(client, zhang, record_id).json["id"]
        r = client.post(f"/v1/dept/repairs/{repair_id}/decision", headers=market,
                        json={"approve": True, "note": "整改到位"})
        assert r.status_code == 200, r.json
        zh = client.get("/v1/me/notifications", headers=zhang["headers"]).json
        en = client.get("/v1/me/notifications", headers={**zhang["headers"], **EN}).json
    [zh_notice] = [n for n in zh if n["kind"] == "repair_decided"]
    [en_notice] = [n for n in en if n["kind"] == "repair_decided"]
    assert "的决定是：已通过。" in zh_notice["body"] and "approved" not in zh_notice["body"]
    assert ": approved." in en_notice["body"]
