"""Perks, one-time codes, verification and redemption, walked over HTTP."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import time_machine

from points.infra.db import today
from tests.builders.departments import department, push
from tests.builders.merchants import PERK, approved_merchant, code_for, make_perk, redeem, verify
from tests.builders.residents import auth, dev_login, resident, valid_id


def test_code_verify_redeem_replay_limit_quota(app, client):
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant)
    number = valid_id(seq=401)
    alice = resident(client, id_number=number, name="张小三")

    r = client.post("/v1/me/verification-tokens", headers=alice["headers"])
    assert r.status_code == 201
    assert set(r.json) == {"token", "expires_at", "qr_svg"}
    assert r.json["qr_svg"].startswith("<svg") and len(r.json["token"]) >= 32
    expires = dt.datetime.fromisoformat(r.json["expires_at"])
    assert 100 <= (expires - dt.datetime.now(dt.UTC)).total_seconds() <= 120

    r = client.post("/v1/merchant/verifications", headers=merchant["headers"],
                    json={"token": r.json["token"], "perk_id": perk["id"]})
    assert r.status_code == 201, r.json
    v = r.json
    assert (v["eligible"], v["level"], v["display_name"], v["reasons"]) == (True, "A", "张*三",
                                                                            [])
    # Only eligibility, level and a masked name: never points, records or the ID number.
    assert set(v) == {"id", "perk_id", "eligible", "level", "display_name", "reasons",
                      "redeem_before"}
    assert number not in r.get_data(as_text=True)
    log = client.get("/v1/me/access-log", headers=alice["headers"]).json
    assert [(e["actor_kind"], e["organisation"], e["purpose"]) for e in log] == [
        ("merchant", "岳麓山景区", "perk_verification")]

    r = redeem(client, merchant, v["id"], "key-1")
    assert r.status_code == 201, r.json
    first = r.json
    assert first["status"] == "granted" and first["perk_id"] == perk["id"]
    assert {"id", "perk_id", "status", "redeemed_at"} <= set(first)
    # The same key and body replays the first answer; another body is refused.
    r = redeem(client, merchant, v["id"], "key-1")
    assert r.status_code == 201 and r.json == first
    r = redeem(client, merchant, v["id"] + 1000, "key-1")
    assert r.status_code == 422 and r.json["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    # The same verification with another key is not granted twice.
    r = redeem(client, merchant, v["id"], "key-2")
    assert r.status_code == 409 and r.json["error_code"] == "ALREADY_REDEEMED"

    # Per-resident limit (1): a fresh code verifies as not eligible, and the grant is refused.
    again = verify(client, merchant, alice, perk["id"])
    assert (again["eligible"], again["reasons"]) == (False, ["limit_reached"])
    r = redeem(client, merchant, again["id"], "key-3")
    assert r.status_code == 409 and r.json["error_code"] == "LIMIT_REACHED"

    # Quota (2): two residents verified while one unit was left; the second is refused.
    bob, carol = resident(client, name="李四"), resident(client, name="王五")
    vb, vc = verify(client, merchant, bob, perk["id"]), verify(client, merchant, carol, perk["id"])
    assert vb["eligible"] and vc["eligible"]
    assert redeem(client, merchant, vb["id"], "key-4").status_code == 201
    r = redeem(client, merchant, vc["id"], "key-5")
    assert r.status_code == 409 and r.json["error_code"] == "QUOTA_EXHAUSTED"
    late = verify(client, merchant, resident(client), perk["id"])
    assert late["eligible"] is False and late["reasons"] == ["quota_exhausted"]

    mine = client.get("/v1/me/redemptions", headers=alice["headers"]).json
    assert [(m["title"], m["status"], m["merchant_name"]) for m in mine] == [
        ("门票八折", "granted", "岳麓山景区")]
    theirs = client.get("/v1/merchant/redemptions", headers=merchant["headers"]).json
    assert len(theirs) == 2 and {t["display_name"] for t in theirs} == {"张*三", "李*"}
    assert client.get("/v1/merchant/perks", headers=merchant["headers"]).json[0]["used"] == 2

    stats = client.get("/v1/merchant/stats", headers=merchant["headers"]).json
    assert (stats["verifications"], stats["grants"], stats["refusals"]) == (5, 2, 2)
    assert stats["refusals_by_reason"] == {"limit_reached": 1, "quota_exhausted": 1}
    assert stats["by_day"][-1]["date"] == today().isoformat()
    assert stats["by_day"][-1]["verifications"] == 5
    listed = client.get("/v1/perks", headers=alice["headers"]).json
    assert listed[0]["eligible"] is False
    assert listed[0]["reasons"] == ["limit_reached", "quota_exhausted"]


def test_used_expired_and_unknown_codes(app, client):
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant)
    person = resident(client)
    token = code_for(client, person)
    body = {"token": token, "perk_id": perk["id"]}
    assert client.post("/v1/merchant/verifications", headers=merchant["headers"],
                       json=body).status_code == 201
    r = client.post("/v1/merchant/verifications", headers=merchant["headers"], json=body)
    assert r.status_code == 409 and r.json["error_code"] == "TOKEN_USED"
    r = client.post("/v1/merchant/verifications", headers=merchant["headers"],
                    json={"token": "made-up", "perk_id": perk["id"]})
    assert r.status_code == 410 and r.json["error_code"] == "TOKEN_EXPIRED"
    stale = code_for(client, person)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=121), tick=False):
        r = client.post("/v1/merchant/verifications", headers=merchant["headers"],
                        json={"token": stale, "perk_id": perk["id"]})
    assert r.status_code == 410 and r.json["error_code"] == "TOKEN_EXPIRED"
    # A refused scan does not spend the code: an unknown perk leaves it usable.
    fresh = code_for(client, person)
    r = client.post("/v1/merchant/verifications", headers=merchant["headers"],
                    json={"token": fresh, "perk_id": 999999})
    assert r.status_code == 404
    assert client.post("/v1/merchant/verifications", headers=merchant["headers"],
                       json={"token": fresh, "perk_id": perk["id"]}).status_code == 201
    r = client.post("/v1/merchant/verifications", headers=merchant["headers"],
                    json={"token": fresh, "perk_id": 2**70})
    assert r.status_code == 422


def test_ineligible_level_restriction_and_consent(app, client):
    merchant = approved_merchant(app, client)
    aa_perk = make_perk(client, merchant, min_level="AA", title="充电宝免押金",
                        benefit={"kind": "deposit_free"})
    open_perk = make_perk(client, merchant, min_level="D", title="免费茶水",
                          benefit={"kind": "free_item", "value": "茶水一杯"})
    dept = department(app, client, "civil")
    on = (today() - dt.timedelta(days=10)).isoformat()

    low = resident(client)  # base 1000: level A, below AA
    v = verify(client, merchant, low, aa_perk["id"])
    assert (v["eligible"], v["level"], v["reasons"]) == (False, "A", ["level_too_low"])
    r = redeem(client, merchant, v["id"], "low-1")
    assert r.status_code == 403 and r.json["error_code"] == "NOT_ELIGIBLE"

    star_id = valid_id(seq=402)
    push(client, dept, {"type": "redlist.integrity_star", "id_number": star_id,
                        "occurred_on": on})
    star = resident(client, id_number=star_id)
    v = verify(client, merchant, star, aa_perk["id"])
    assert (v["eligible"], v["level"]) == (True, "AA")
    listed = {p["title"]: p for p in client.get("/v1/perks", headers=star["headers"]).json}
    assert listed["充电宝免押金"]["eligible"] is True

    defaulter_id = valid_id(seq=403)
    push(client, dept, {"type": "court.defaulter", "id_number": defaulter_id, "decided_on": on})
    defaulter = resident(client, id_number=defaulter_id)
    v = verify(client, merchant, defaulter, open_perk["id"])
    assert (v["eligible"], v["level"], v["reasons"]) == (False, "D", ["not_eligible"])
    assert redeem(client, merchant, v["id"], "def-1").json["error_code"] == "NOT_ELIGIBLE"

    # Consent withdrawn after the code was made: not eligible, and nothing is disclosed.
    person = resident(client)
    token = code_for(client, person)
    r = client.put("/v1/me/consents/merchant_share", headers=person["headers"],
                   json={"granted": False, "policy_version": "2026-01"})
    assert r.status_code == 200
    r = client.post("/v1/merchant/verifications", headers=merchant["headers"],
                    json={"token": token, "perk_id": open_perk["id"]})
    assert r.status_code == 201
    assert (r.json["eligible"], r.json["level"], r.json["reasons"]) == (
        False, None, ["consent_withdrawn"])
    # Without the consent no code is made at all.
    r = client.post("/v1/me/verification-tokens", headers=person["headers"])
    assert r.status_code == 403 and r.json["error_code"] == "CONSENT_REQUIRED"
    unbound = auth(dev_login(client)["access_token"])
    r = client.post("/v1/me/verification-tokens", headers=unbound)
    assert r.status_code == 409 and r.json["error_code"] == "IDENTITY_REQUIRED"
    listed = client.get("/v1/perks", headers=person["headers"]).json
    assert all("consent_required" in p["reasons"] for p in listed)
    minor = resident(client, id_number=valid_id(birth="20150101", seq=404))
    r = client.post("/v1/me/verification-tokens", headers=minor["headers"])
    assert r.status_code == 403 and r.json["error_code"] == "NOT_ELIGIBLE"
    listed = client.get("/v1/perks", headers=minor["headers"]).json
    assert listed and all(p["reasons"] == ["under_18"] for p in listed)


def test_merchant_cannot_touch_another_merchants_perk(app, client):
    a = approved_merchant(app, client, name="甲景区")
    b = approved_merchant(app, client, name="乙家政", sector="housekeeping")
    b_perk = make_perk(client, b)
    person = resident(client)
    assert client.get(f"/v1/merchant/perks/{b_perk['id']}", headers=a["headers"]).status_code \
        == 404
    r = client.patch(f"/v1/merchant/perks/{b_perk['id']}", json={"title": "x"},
                     headers={**a["headers"], "If-Match": "*"})
    assert r.status_code == 404
    r = client.post("/v1/merchant/verifications", headers=a["headers"],
                    json={"token": code_for(client, person), "perk_id": b_perk["id"]})
    assert r.status_code == 404
    v = verify(client, b, person, b_perk["id"])
    r = redeem(client, a, v["id"], "cross-1")
    assert r.status_code == 404
    granted = redeem(client, b, v["id"], "cross-2").json
    r = client.post(f"/v1/merchant/redemptions/{granted['id']}/reverse", headers=a["headers"],
                    json={"reason": "x"})
    assert r.status_code == 404
    assert client.get("/v1/merchant/redemptions", headers=a["headers"]).json == []
    assert [p["title"] for p in client.get(
        f"/v1/perks?merchant_id={b['id']}", headers=person["headers"]).json] == ["门票八折"]
    assert client.get("/v1/perks?sector=tourism", headers=person["headers"]).json == []


def test_etag_and_terms_snapshot(app, client):
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant)
    url = f"/v1/merchant/perks/{perk['id']}"
    r = client.get(url, headers=merchant["headers"])
    tag = r.headers["ETag"]
    person = resident(client)
    v = verify(client, merchant, person, perk["id"])
    assert redeem(client, merchant, v["id"], "etag-1").status_code == 201
    # Redeeming does not change the ETag: only edits do.
    assert client.get(url, headers=merchant["headers"]).headers["ETag"] == tag

    r = client.patch(url, headers=merchant["headers"], json={"title": "门票七折"})
    assert r.status_code == 428 and r.json["error_code"] == "PRECONDITION_REQUIRED"
    r = client.patch(url, headers={**merchant["headers"], "If-Match": '"stale"'},
                     json={"title": "门票七折"})
    assert r.status_code == 412 and r.json["error_code"] == "PRECONDITION_FAILED"
    r = client.patch(url, headers={**merchant["headers"], "If-Match": tag},
                     json={"title": "门票七折", "benefit": {"kind": "discount", "value": 0.7}})
    assert r.status_code == 200 and r.json["version"] == 2
    assert r.headers["ETag"] != tag
    r = client.patch(url, headers={**merchant["headers"], "If-Match": tag}, json={"title": "x"})
    assert r.status_code == 412
    # Bad edits are 422, never 500.
    new_tag = client.get(url, headers=merchant["headers"]).headers["ETag"]
    for bad in ({"total_quota": 0}, {"valid_until": "2019-01-01"}, {"min_level": "AAAA"},
                {"benefit": {"kind": "cash"}}, {"benefit": {"kind": "discount"}}):
        r = client.patch(url, headers={**merchant["headers"], "If-Match": new_tag}, json=bad)
        assert r.status_code == 422, bad
    # The redemption keeps the terms it was granted under.
    mine = client.get("/v1/me/redemptions", headers=person["headers"]).json
    assert mine[0]["title"] == "门票八折" and mine[0]["benefit"]["value"] == "8折"
    theirs = client.get("/v1/merchant/redemptions", headers=merchant["headers"]).json
    assert theirs[0]["terms"]["version"] == 1


def test_reversal_within_a_day_only(app, client):
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=5)
    person = resident(client)
    first = redeem(client, merchant, verify(client, merchant, person, perk["id"])["id"], "r-1")
    url = f"/v1/merchant/redemptions/{first.json['id']}/reverse"
    r = client.post(url, headers=merchant["headers"], json={"reason": "游客退票"})
    assert r.status_code == 200 and r.json["status"] == "reversed"
    assert r.json["reverse_reason"] == "游客退票"
    perk_now = client.get(f"/v1/merchant/perks/{perk['id']}", headers=merchant["headers"]).json
    assert perk_now["used"] == 0
    r = client.post(url, headers=merchant["headers"], json={"reason": "again"})
    assert r.status_code == 409 and r.json["error_code"] == "ALREADY_REVERSED"
    # The reversed grant no longer counts towards the per-resident limit.
    second = redeem(client, merchant, verify(client, merchant, person, perk["id"])["id"], "r-2")
    assert second.status_code == 201
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=25), tick=False):
        headers = auth(dev_login(client, merchant["openid"])["access_token"])
        r = client.post(f"/v1/merchant/redemptions/{second.json['id']}/reverse",
                        headers=headers, json={"reason": "too late"})
        assert r.status_code == 409 and r.json["error_code"] == "REVERSAL_WINDOW_CLOSED"
    statuses = [m["status"] for m in client.get("/v1/me/redemptions",
                                                 headers=person["headers"]).json]
    assert statuses == ["granted", "reversed"]


def test_verification_older_than_ten_minutes(app, client):
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant)
    v = verify(client, merchant, resident(client), perk["id"])
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11), tick=False):
        r = redeem(client, merchant, v["id"], "old-1")
    assert r.status_code == 410 and r.json["error_code"] == "VERIFICATION_EXPIRED"


def test_perk_input_is_checked(app, client):
    merchant = approved_merchant(app, client)
    for bad in ({"min_level": "E"}, {"total_quota": -1}, {"per_resident_limit": 0},
                {"valid_from": "2030-01-02", "valid_until": "2030-01-01"},
                {"valid_until": "2000-01-01", "valid_from": "1999-01-01"},
                {"benefit": {"kind": "discount", "value": True}}, {"title": ""}, {"title": "  "},
                {"total_quota": "lots"}):
        r = client.post("/v1/merchant/perks", headers=merchant["headers"], json={**PERK, **bad})
        assert r.status_code == 422, bad
        assert r.json["error_code"] == "VALIDATION_ERROR"
    # A perk not yet started or switched off is not shown to residents.
    make_perk(client, merchant, valid_from="2098-01-01")
    make_perk(client, merchant, active=False, title="停用")
    assert client.get("/v1/perks", headers=resident(client)["headers"]).json == []
    assert len(client.get("/v1/merchant/perks", headers=merchant["headers"]).json) == 2
    spec = client.get("/openapi.json").json
    assert {"412", "428"} <= set(spec["paths"]["/v1/merchant/perks/{perk_id}"]["patch"]
                                 ["responses"])


def _edit_perk_at(app, marker: str, changes: str) -> tuple[list, Callable[[], None]]:
    """Apply `changes` to the perk row right before the grant's statement containing
    `marker` runs, as an owner's edit committing just then would; the edits made, and
    the undo. The edit runs in the grant's transaction, so a rollback takes it back,
    as it could not a committed one: it is applied again on the next transaction."""
    from sqlalchemy import event

    engine = app.state.db.engine
    pending, edits = [True], []

    def edit(conn, cursor, statement, parameters, context, executemany):
        if marker in statement and pending:  # one edit per transaction
            pending.clear()
            edits.append(statement)
            cursor.execute(f"UPDATE perks SET {changes}, version = version + 1")

    def rolled_back(conn):
        pending[:] = [True]

    event.listen(engine, "before_cursor_execute", edit)
    event.listen(engine, "rollback", rolled_back)

    def undo():
        event.remove(engine, "before_cursor_execute", edit)
        event.remove(engine, "rollback", rolled_back)

    return edits, undo


BEFORE_QUOTA = "UPDATE perks SET used"  # on PostgreSQL part of the grant's one statement
BEFORE_GRANT = "perk_version"  # the grant's statement (its standing read)


def _redeem_during_edit(app, client, merchant: dict, verification_id: int, key: str,
                        marker: str, changes: str):
    """A grant, with the perk edited (`changes`) right before its statement that holds
    `marker`: the edits made, and the answer."""
    edits, undo = _edit_perk_at(app, marker, changes)
    try:
        return edits, redeem(client, merchant, verification_id, key)
    finally:
        undo()


def test_grant_checks_terms_edited_before_its_quota_unit(app, client):
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=5)
    person = resident(client, id_number=valid_id(seq=431))
    first = verify(client, merchant, person, perk["id"])
    assert first["eligible"] and first["level"] == "A"

    _, r = _redeem_during_edit(app, client, merchant, first["id"], "edit-1", BEFORE_QUOTA,
                               "min_level = 'AAA'")
    assert r.status_code == 403 and r.json["error_code"] == "NOT_ELIGIBLE"
    assert r.json["reasons"] == ["level_too_low"]
    r = client.get(f"/v1/merchant/perks/{perk['id']}", headers=merchant["headers"])
    assert r.json["used"] == 0  # nothing granted, nothing half-written
    assert client.get("/v1/merchant/redemptions", headers=merchant["headers"]).json == []


def test_terms_edited_while_the_subject_lock_was_awaited_are_read_again(app, client):
    """The verification and its perk's terms are read when the subject's lock is
    granted; an edit committed while it was awaited (here: the perk switched off and
    its quota used up) is not in that read. The grant sees the perk's version has
    moved, writes nothing, reads the terms again: 403 NOT_ELIGIBLE, as the terms in
    force say, not 409 QUOTA_EXHAUSTED."""
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=5)
    person = resident(client, id_number=valid_id(seq=434))
    v = verify(client, merchant, person, perk["id"])
    edits, r = _redeem_during_edit(app, client, merchant, v["id"], "edited-while-waiting",
                                   BEFORE_GRANT, "active = false, used = total_quota")
    assert edits
    assert r.status_code == 403 and r.json["error_code"] == "NOT_ELIGIBLE", r.json
    assert r.json["reasons"] == ["perk_inactive"]
    assert client.get("/v1/merchant/redemptions", headers=merchant["headers"]).json == []


def test_grant_stores_the_terms_in_force_when_edited_meanwhile(app, client):
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=5)
    person = resident(client, id_number=valid_id(seq=432))
    v = verify(client, merchant, person, perk["id"])
    _, r = _redeem_during_edit(app, client, merchant, v["id"], "edit-2", BEFORE_QUOTA,
                               "title = '门票七折'")
    assert r.status_code == 201, r.json
    assert r.json["terms"]["title"] == "门票七折"
    assert r.json["terms"]["version"] == perk["version"] + 1
    # The answer is the grant as stored.
    stored = client.get("/v1/merchant/redemptions", headers=merchant["headers"]).json
    assert stored == [r.json]


def test_an_edit_committed_while_the_quota_row_was_awaited_is_the_answer_kept(
        app, client, dispatched):
    """PostgreSQL: an edit of the perk holds its row; the grant's statement reads the
    old version, waits for the row, and takes its unit from the edited version once the
    edit commits. The grant then stores the edited terms, and the answer kept under the
    Idempotency-Key is the answer sent: a replay and the merchant's list show the same."""
    import threading
    import time

    from sqlalchemy import text

    engine = app.state.db.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes one writer at a time: nothing to wait for")
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=5)
    v = verify(client, merchant, resident(client, id_number=valid_id(seq=435)), perk["id"])
    answers = []
    dispatched.clear()
    with engine.connect() as editor:
        editor.execute(text("UPDATE perks SET title = '门票六折', version = version + 1 "
                            "WHERE id = :id"), {"id": perk["id"]})
        grant = threading.Thread(target=lambda: answers.append(
            redeem(app.test_client(), merchant, v["id"], "edited-under-the-unit")))
        grant.start()
        deadline = time.monotonic() + 10
        with engine.connect() as watcher:  # the grant waits on the perk's row
            while not watcher.execute(text(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                assert time.monotonic() < deadline, "the grant never waited on the edit"
                time.sleep(0.01)
        editor.commit()
        grant.join(10)
    (r,) = answers
    assert r.status_code == 201, r.json
    assert dispatched == []  # the plain route's run granted it, not Flask after it
    assert r.json["terms"]["title"] == "门票六折"
    assert r.json["terms"]["version"] == perk["version"] + 1
    again = redeem(client, merchant, v["id"], "edited-under-the-unit")
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json == r.json
    assert client.get("/v1/merchant/redemptions", headers=merchant["headers"]).json == [r.json]


def test_terms_edited_between_the_locked_read_and_the_grant_are_granted_and_kept(
        app, client, dispatched):
    """The perk edited after the grant's locked read and before its grant statement:
    the grant writes nothing, reads the terms again and grants on them; the answer sent
    and the one kept under the Idempotency-Key are those terms."""
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=5)
    v = verify(client, merchant, resident(client, id_number=valid_id(seq=436)), perk["id"])
    dispatched.clear()
    edits, r = _redeem_during_edit(app, client, merchant, v["id"], "edited-before-the-grant",
                                   BEFORE_GRANT, "title = '门票五折'")
    assert edits
    assert r.status_code == 201, r.json
    assert dispatched == []
    assert r.json["terms"]["title"] == "门票五折"
    assert r.json["terms"]["version"] == perk["version"] + 1
    again = redeem(client, merchant, v["id"], "edited-before-the-grant")
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == r.json
    assert client.get("/v1/merchant/redemptions", headers=merchant["headers"]).json == [r.json]


def test_a_key_sent_with_an_unknown_verification_leaves_no_claim(app, client, dispatched):
    """Nothing to grant: the plain run's claim of the key is rolled back with the rest,
    and the app's error handler answers 404 (not Flask's dispatch). A claim left behind
    would make the retry a 409 IDEMPOTENCY_IN_PROGRESS; the retry is the same 404 (an
    error is not kept)."""
    merchant = approved_merchant(app, client)
    dispatched.clear()
    r = redeem(client, merchant, 987654, "no-such-verification")
    assert r.status_code == 404 and r.json["error_code"] == "VERIFICATION_NOT_FOUND"
    assert dispatched == []
    again = redeem(client, merchant, 987654, "no-such-verification")
    assert again.status_code == 404 and again.json["error_code"] == "VERIFICATION_NOT_FOUND"


def test_the_grant_answered_is_the_grant_stored(app, client):
    """The grant's answer is built from what was written (only its id is read back):
    it must be exactly what the merchant's list, and a replay, show afterwards."""
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=5)
    person = resident(client, id_number=valid_id(seq=433))
    v = verify(client, merchant, person, perk["id"])
    r = redeem(client, merchant, v["id"], "as-stored")
    assert r.status_code == 201, r.json
    assert r.json["status"] == "granted" and r.json["reversed_at"] is None
    assert r.json["verification_id"] == v["id"] and r.json["perk_id"] == perk["id"]
    assert r.json["terms"]["title"] == perk["title"]
    assert r.json["display_name"] == v["display_name"] == "张*"
    stored = client.get("/v1/merchant/redemptions", headers=merchant["headers"]).json
    assert stored == [r.json]
    assert redeem(client, merchant, v["id"], "as-stored").json == r.json


def test_a_perk_not_found_leaves_the_code_unspent_and_unlogged(app, client):
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant)
    alice = resident(client, id_number=valid_id(seq=431), name="张小三")
    token = code_for(client, alice)

    r = client.post("/v1/merchant/verifications", headers=merchant["headers"],
                    json={"token": token, "perk_id": perk["id"] + 1000})
    assert r.status_code == 404 and r.json["error_code"] == "PERK_NOT_FOUND"
    assert client.get("/v1/me/access-log", headers=alice["headers"]).json == []

    r = client.post("/v1/merchant/verifications", headers=merchant["headers"],
                    json={"token": token, "perk_id": perk["id"]})
    assert r.status_code == 201 and r.json["eligible"] is True
    assert len(client.get("/v1/me/access-log", headers=alice["headers"]).json) == 1
    # A spent code and a perk that is not theirs: the perk is named first, as before.
    r = client.post("/v1/merchant/verifications", headers=merchant["headers"],
                    json={"token": token, "perk_id": perk["id"] + 1000})
    assert r.status_code == 404 and r.json["error_code"] == "PERK_NOT_FOUND"
    r = client.post("/v1/merchant/verifications", headers=merchant["headers"],
                    json={"token": token, "perk_id": perk["id"]})
    assert r.status_code == 409 and r.json["error_code"] == "TOKEN_USED"


def test_a_grant_is_in_the_residents_export_without_the_staff(app, client):
    """The export's redemptions come from the incentives package as a section the route
    gives `points.people.export` (points does not import incentives)."""
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=5)
    person = resident(client, id_number=valid_id(seq=437))
    granted = redeem(client, merchant, verify(client, merchant, person, perk["id"])["id"],
                     "in-export").json
    exported = client.get("/v1/me/export", headers=person["headers"]).json["redemptions"]
    assert [(r["id"], r["perk_id"], r["status"]) for r in exported] == [
        (granted["id"], perk["id"], "granted")]
    assert not {"user_id", "staff_user_id"} & set(exported[0])
