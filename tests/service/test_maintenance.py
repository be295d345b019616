"""points verify, DATA_KEY rotation, and logs that never carry secrets."""
from __future__ import annotations

import io
import logging

from api.logs import JsonFormatter
from points.infra.crypto import DataCipher
from points.models import Score, Subject
from points.recordkeeping.subjects import find_subject
from points.scores import score_cache
from tests.builders.departments import department, push
from tests.builders.residents import bind, resident, valid_id


def test_points_verify_reports_stored_and_cached_differences(app, client, session):
    number = valid_id(seq=81)
    dept = department(app, client)
    push(client, dept, {"type": "donation.blood", "id_number": number, "occurred_on": "2026-06-01"})
    runner = app.test_cli_runner()
    clean = runner.invoke(args=["points", "verify"])
    assert clean.exit_code == 0 and "1 scores; 0 differences" in clean.output
    stored = session.query(Score).one()
    stored.points = 999
    session.commit()
    broken = runner.invoke(args=["points", "verify"])
    assert broken.exit_code == 1 and "stored (999" in broken.output
    stored.points = 1010
    session.commit()
    score_cache.put(app.state.redis, stored.subject_id, stored.version + 5,
                    {"points": 5, "level": "D", "restricted": False, "next_change_on": None})
    broken = runner.invoke(args=["points", "verify"])
    assert broken.exit_code == 1 and "cached (5, 'D', False)" in broken.output


def test_data_key_rotation(app, client, session, monkeypatch):
    number = valid_id(seq=82)
    resident(client, id_number=number, name="赵六")
    state = app.state
    old_key = app.config["DATA_KEYS"][0]
    new_key = "a-new-data-key-for-2027"
    both = DataCipher([new_key, old_key])  # what DATA_KEY="new,old" gives
    monkeypatch.setattr(state, "cipher", both)
    result = app.test_cli_runner().invoke(args=["rotate-data-key"])
    assert "re-encrypted 2 rows" in result.output  # the subject and the user
    session.expire_all()
    # Only the new key is needed to decrypt now; the lookup hash is unchanged when
    # DATA_HASH_KEY keeps the original lookup secret.
    only_new = DataCipher([new_key], hash_key=old_key)
    subject = session.query(Subject).one()
    assert only_new.decrypt(subject.id_number_enc) == number
    assert find_subject(session, only_new, number).id == subject.id
    import pytest

    with pytest.raises(ValueError):
        DataCipher([old_key]).decrypt(subject.id_number_enc)


def test_logs_never_carry_personal_data_or_secrets(app, client, httpserver, monkeypatch):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    monkeypatch.setitem(app.config, "LOG_REQUESTS", True)
    wechat = app.state.wechat
    saved = wechat.base_url
    wechat.base_url = httpserver.url_for("").rstrip("/")
    httpserver.expect_request("/sns/jscode2session").respond_with_json(
        {"openid": "o-logs", "session_key": "SK-very-secret-value"})
    try:
        number, phone = valid_id(seq=83), "13900001111"
        login = client.post("/v1/auth/wechat/login", json={"code": "c-logs"}).json
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        bind(client, headers, "钱七", number, phone=phone)
        dept = department(app, client)
        push(client, dept, {"type": "admin.penalty.general", "id_number": number, "name": "钱七",
                            "decided_on": "2026-11-20"})
        client.post("/v1/dept/records", headers=dept, json={"records": [
            {"source_ref": "bad", "subject": {"id_number": number[:-1] + "0", "name": "钱七"},
             "type": "admin.penalty.general", "decided_on": "2026-11-20"}]})
        client.post("/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
        client.get("/v1/me/points", headers=headers)
    finally:
        wechat.base_url = saved
        root.removeHandler(handler)
        root.setLevel(level)
    text = stream.getvalue()
    assert '"route": "/v1/me/identity"' in text and "request_id" in text  # it did log
    for secret in (number, phone, "SK-very-secret-value", login["access_token"],
                   login["refresh_token"], dept["X-API-Key"], "钱七"):
        assert secret not in text
