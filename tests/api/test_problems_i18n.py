"""What a department gets back for rejected records (issue 21): each problem's message
in Chinese by default and in English with `Accept-Language: en` — in the answer to the
push, in the quality issues list (stored in English, translated when read) and in the
note of an issue a resend fixed — while `dimension` and `field` never change. And what
an idempotent replay answers: the first answer as it was sent, in its language."""
from __future__ import annotations

import datetime as dt

import time_machine

from tests.builders.departments import department
from tests.builders.residents import valid_id

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
EN = {"Accept-Language": "en"}


def _wrong_check_digit(number: str) -> str:
    last = "0" if number[-1] in "9X" else str(int(number[-1]) + 1)
    return number[:-1] + last


def _batch() -> list[dict]:
    number = valid_id(seq=661)
    return [
        {"source_ref": "q-1", "type": "admin.penalty.general", "decided_on": "2026-11-25",
         "subject": {"id_number": _wrong_check_digit(number), "name": "张三"}},
        {"source_ref": "q-2", "type": "no.such.type", "subject": {"name": "李四"}},
        {"source_ref": "q-3", "type": "admin.penalty.general", "decided_on": "2027-01-01",
         "subject": {"id_number": number, "name": "张三"}},
    ]


def _messages(rejected: list[dict]) -> dict[tuple[str, str, str], str]:
    return {(item["source_ref"], p["dimension"], p["field"]): p["message"]
            for item in rejected for p in item["problems"]}


CHINESE = {("q-1", "validity", "subject.id_number"): "校验码不对",
           ("q-2", "completeness", "subject.id_number"): "必填",
           ("q-2", "validity", "type"): "未知的记录类型 'no.such.type'",
           ("q-3", "accuracy", "decided_on"): "不能晚于今天"}
ENGLISH = {("q-1", "validity", "subject.id_number"): "the check digit is wrong",
           ("q-2", "completeness", "subject.id_number"): "is required",
           ("q-2", "validity", "type"): "unknown record type 'no.such.type'",
           ("q-3", "accuracy", "decided_on"): "is in the future"}


def test_rejected_records_and_quality_issues_in_both_languages(app, client):
    with time_machine.travel(dt.datetime(2026, 11, 30, 10, tzinfo=SHANGHAI), tick=False):
        dept = department(app, client, code="i18n-q", record_types=["admin.penalty.general"])
        zh = client.post("/v1/dept/records", headers=dept, json={"records": _batch()})
        en = client.post("/v1/dept/records", headers={**dept, **EN},
                         json={"records": _batch()})
        assert zh.status_code == en.status_code == 200
        assert _messages(zh.json["rejected"]) == CHINESE
        assert _messages(en.json["rejected"]) == ENGLISH
        assert zh.headers["Content-Language"] == "zh" and en.headers["Content-Language"] == "en"

        # The quality issues keep the problems in English and answer in the reader's.
        def issues(headers, status="open"):
            r = client.get(f"/v1/dept/quality-issues?status={status}",
                           headers={**dept, **headers})
            assert r.status_code == 200, r.json
            return r.json

        def by_language(headers):
            return _messages([{"source_ref": i["source_ref"], "problems": i["problems"]}
                              for i in issues(headers)])

        assert by_language({}) == CHINESE and by_language(EN) == ENGLISH

        # A resend that is accepted resolves the issue, with a note in the reader's language.
        fixed = {**_batch()[2], "decided_on": "2026-11-25"}
        r = client.post("/v1/dept/records", headers=dept, json={"records": [fixed]})
        assert r.status_code == 200 and r.json["rejected"] == []
        [zh_note] = {i["resolution_note"] for i in issues({}, "resolved")}
        [en_note] = {i["resolution_note"] for i in issues(EN, "resolved")}
        assert en_note.startswith("corrected by a resend accepted in batch ")
        batch = en_note.rsplit(" ", 1)[1]
        assert zh_note == f"已由第 {batch} 批中被接收的重新报送更正"


def test_a_replay_answers_the_first_answer_in_its_language(app, client):
    """The stored answer is replayed as it was sent: its texts in the first request's
    language, which the replay names in Content-Language, whatever the retry asks."""
    with time_machine.travel(dt.datetime(2026, 11, 30, 10, tzinfo=SHANGHAI), tick=False):
        dept = department(app, client, code="i18n-r", record_types=["admin.penalty.general"])
        body = {"records": _batch()}
        first = client.post("/v1/dept/records", json=body,
                            headers={**dept, **EN, "Idempotency-Key": "i18n-replay-1"})
        replay = client.post("/v1/dept/records", json=body,
                             headers={**dept, "Idempotency-Key": "i18n-replay-1"})
        other = client.post("/v1/dept/records", json=body,
                            headers={**dept, "Idempotency-Key": "i18n-replay-2"})
    assert first.status_code == replay.status_code == other.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first.json and _messages(replay.json["rejected"]) == ENGLISH
    assert replay.headers["Content-Language"] == "en"
    # A new key is a new request: answered in the language it asks for (the default).
    assert _messages(other.json["rejected"]) == CHINESE
    assert other.headers["Content-Language"] == "zh"
