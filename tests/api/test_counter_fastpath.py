"""The merchant counter answered before Flask (api/counter_fastpath.py).

Covered: a verify and a redeem answered by the fast path are the full path's
answers (status, body, headers) and are committed; every refusal is Flask's own
answer with nothing of the fast path's attempt left behind; Idempotency-Key works
across the two paths; requests the fast path does not take (X-Request-Id, Origin,
a non-JSON body, a body the schema refuses, the scan's rate limit on, staff of
several merchants without X-Merchant-Id) reach Flask and are answered there; cached
seats stop working the moment staff or merchant change; a connection lost during
COMMIT answers 503 without running the request again, and a failure before COMMIT
is rolled back and run again by Flask.

`dispatched` counts the requests that reached Flask's dispatch: 0 means the fast
path answered.
"""
from __future__ import annotations

import itertools
import json
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from api import SECURITY_HEADERS_API, counter_fastpath
from api.uow import _CommitInterrupted
from incentives import codes, redemptions
from incentives.models import Perk, Redemption, Verification, VerificationToken
from tests.api.test_merchants import approved_merchant
from tests.api.test_perks_redemptions import code_for, make_perk, verify
from tests.helpers import auth, dev_login, resident, valid_id

VERIFY, REDEEM = counter_fastpath.VERIFY, counter_fastpath.REDEEM
# What differs between two answers made the same way: ids and times.
VOLATILE = {"id", "verification_id", "redeem_before", "redeemed_at"}
_seqs = itertools.count(1)


@pytest.fixture
def counter(app, client):
    """An approved merchant whose owner's seats are cached (the perk was made through
    Flask, which cached them), and a perk with room for many grants."""
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=50)
    return merchant, perk


@pytest.fixture
def limiter(app):
    """The rate limiter switched on for one test, off again afterwards."""
    limits = app.extensions["credit"].limiter
    limits.reset()
    limits.enabled = True
    yield limits
    limits.enabled = False
    limits.reset()


def _person(client, name: str = "张三", cached: bool = True) -> dict:
    """A resident with consents; the birth date keeps the ID number apart from those
    other helpers make. `cached`: the score read once, so it is cached, as the nightly
    recompute leaves it (a scan of someone whose score is not cached is Flask's)."""
    person = resident(client, id_number=valid_id(birth="19850505", seq=next(_seqs) % 1000),
                      name=name)
    if cached:
        assert client.get("/v1/me/points", headers=person["headers"]).status_code == 200
    return person


def _verify(client, staff: dict, token: str, perk_id: int, headers: dict | None = None):
    return client.post(VERIFY, json={"token": token, "perk_id": perk_id},
                       headers={**staff, **(headers or {})})


def _redeem(client, staff: dict, verification_id: int, headers: dict | None = None):
    return client.post(REDEEM, json={"verification_id": verification_id},
                       headers={**staff, **(headers or {})})


def _key(key: str) -> dict:
    return {"Idempotency-Key": key}


def _stable(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in VOLATILE}


def _header_names(response) -> list[str]:
    return sorted(name.lower() for name, _ in response.headers)


def _tally(app) -> dict:
    """What the database holds: quota units used, grants, verifications, codes spent."""
    s = app.extensions["credit"].db.new_session()
    try:
        return {
            "used": s.scalar(select(func.coalesce(func.sum(Perk.used), 0))),
            "grants": s.scalar(select(func.count()).select_from(Redemption)),
            "verifications": s.scalar(select(func.count()).select_from(Verification)),
            "spent": s.scalar(select(func.count()).select_from(VerificationToken)
                              .where(VerificationToken.used_at.is_not(None))),
        }
    finally:
        s.close()


def _flask_answers(app, monkeypatch, dispatched, call):
    """`call()` with the fast path on reaches Flask once, and is answered exactly as
    with the fast path switched off (the call must not change anything)."""
    dispatched.clear()
    on = call()
    assert dispatched == [1]
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", False)
    try:
        off = call()
    finally:
        monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", True)
    assert (on.status_code, on.json) == (off.status_code, off.json)
    assert _header_names(on) == _header_names(off)
    return on


def _lost_connection() -> _CommitInterrupted:
    """What api.uow._commit raises when the connection died during COMMIT."""
    interrupted = _CommitInterrupted()
    interrupted.__cause__ = DBAPIError("COMMIT", None, Exception("lost"),
                                       connection_invalidated=True)
    return interrupted


# -- the same answers, committed ------------------------------------------------------

def test_fast_answers_are_the_full_paths(app, client, dispatched, monkeypatch, counter):
    merchant, perk = counter
    staff = merchant["headers"]
    answers, people = {}, {}
    for fast in (False, True):  # a resident each, made the same way
        monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", fast)
        person = people[fast] = _person(client, name="张小三")
        token = code_for(client, person)
        dispatched.clear()
        verified = _verify(client, staff, token, perk["id"])
        granted = _redeem(client, staff, verified.json["id"])
        assert dispatched == ([] if fast else [1, 1])
        answers[fast] = (verified, granted)

    for fast, full in zip(answers[True], answers[False], strict=True):
        assert fast.status_code == full.status_code == 201
        assert _stable(fast.json) == _stable(full.json)
        assert list(fast.json) == list(full.json)  # the same keys, in the same order
        assert fast.headers["Content-Type"] == full.headers["Content-Type"]
        assert _header_names(fast) == _header_names(full)
        for name, value in SECURITY_HEADERS_API:
            assert fast.headers[name] == full.headers[name] == value, name
        assert re.fullmatch(r"[0-9a-f]{32}", fast.headers["X-Request-Id"])
        assert fast.headers["X-Request-Id"] != full.headers["X-Request-Id"]
        assert int(fast.headers["Content-Length"]) == len(fast.get_data())
        # serialised alike: compact, sorted keys, UTF-8 (the masked name is not escaped)
        for response in (fast, full):
            assert response.get_data() == json.dumps(
                response.json, ensure_ascii=False, sort_keys=True,
                separators=(",", ":")).encode() + b"\n"

    verified, granted = (r.json for r in answers[True])
    assert (verified["eligible"], verified["level"], verified["display_name"],
            verified["reasons"]) == (True, "A", "张*三", [])
    assert (granted["status"], granted["perk_id"], granted["verification_id"]) == (
        "granted", perk["id"], verified["id"])
    # committed: listed, the quota unit taken, the code spent, the access logged
    listed = client.get("/v1/merchant/redemptions", headers=staff).json
    assert granted["id"] in {g["id"] for g in listed} and len(listed) == 2
    assert client.get(f"/v1/merchant/perks/{perk['id']}", headers=staff).json["used"] == 2
    assert _tally(app) == {"used": 2, "grants": 2, "verifications": 2, "spent": 2}
    log = client.get("/v1/me/access-log", headers=people[True]["headers"]).json
    assert [e["purpose"] for e in log] == ["perk_verification"]
    mine = client.get("/v1/me/redemptions", headers=people[True]["headers"]).json
    assert [(m["id"], m["status"]) for m in mine] == [(granted["id"], "granted")]


# -- refusals: Flask's answers, nothing half-written ------------------------------------

def test_refusals_are_flasks_answers_and_leave_nothing(app, client, dispatched, monkeypatch,
                                                      counter):
    merchant, perk = counter
    staff = merchant["headers"]
    other = approved_merchant(app, client, name="乙家政", sector="housekeeping")
    other_perk = make_perk(client, other)
    theirs = verify(client, other, _person(client), other_perk["id"])
    make_perk(client, merchant, title="另一项")  # the approval moved the seats epoch: cache again
    person = _person(client)
    token = code_for(client, person)

    dispatched.clear()
    first = _verify(client, staff, token, perk["id"])
    assert first.status_code == 201 and dispatched == []
    r = _flask_answers(app, monkeypatch, dispatched,
                       lambda: _verify(client, staff, token, perk["id"]))
    assert r.status_code == 409 and r.json["error_code"] == "TOKEN_USED"
    r = _flask_answers(app, monkeypatch, dispatched,
                       lambda: _verify(client, staff, "made-up-code", perk["id"]))
    assert r.status_code == 410 and r.json["error_code"] == "TOKEN_EXPIRED"
    # another merchant's perk: 404, and the code is not spent by the attempt
    fresh = code_for(client, _person(client))
    r = _flask_answers(app, monkeypatch, dispatched,
                       lambda: _verify(client, staff, fresh, other_perk["id"]))
    assert r.status_code == 404

    dispatched.clear()
    granted = _redeem(client, staff, first.json["id"])
    assert granted.status_code == 201 and dispatched == []
    r = _flask_answers(app, monkeypatch, dispatched,
                       lambda: _redeem(client, staff, first.json["id"]))
    assert r.status_code == 409 and r.json["error_code"] == "ALREADY_REDEEMED"
    for verification_id in (theirs["id"], 987654):  # not this merchant's; unknown
        r = _flask_answers(app, monkeypatch, dispatched,
                           lambda v=verification_id: _redeem(client, staff, v))
        assert r.status_code == 404 and r.json["error_code"] == "VERIFICATION_NOT_FOUND"

    # one code spent by this merchant (and the other's own), one grant, one unit used
    assert _tally(app) == {"used": 1, "grants": 1, "verifications": 2, "spent": 2}
    dispatched.clear()
    assert _verify(client, staff, fresh, perk["id"]).status_code == 201
    assert dispatched == []  # still cached, and the code the 404 left unspent works


# -- Idempotency-Key across the two paths -------------------------------------------------

def test_idempotency_key_across_the_two_paths(app, client, dispatched, monkeypatch, counter):
    merchant, perk = counter
    staff = merchant["headers"]
    one, two, three = (verify(client, merchant, _person(client), perk["id"])["id"]
                       for _ in range(3))

    # answered by the fast path, replayed by Flask
    dispatched.clear()
    first = _redeem(client, staff, one, _key("counter-key-1"))
    assert first.status_code == 201 and dispatched == []
    assert "Idempotent-Replayed" not in first.headers
    dispatched.clear()
    again = _redeem(client, staff, one, _key("counter-key-1"))
    assert dispatched == [1]
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    r = _redeem(client, staff, two, _key("counter-key-1"))
    assert r.status_code == 422 and r.json["error_code"] == "IDEMPOTENCY_KEY_REUSED"

    # answered by Flask, its retry replayed (the fast path leaves the used key to Flask)
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", False)
    full = _redeem(client, staff, two, _key("counter-key-2"))
    assert full.status_code == 201
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", True)
    dispatched.clear()
    again = _redeem(client, staff, two, _key("counter-key-2"))
    assert dispatched == [1]
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == full.json

    # a key too long: Flask's 422; the longest allowed goes the fast way
    r = _flask_answers(app, monkeypatch, dispatched,
                       lambda: _redeem(client, staff, three, _key("k" * 129)))
    assert r.status_code == 422 and "Idempotency-Key" in r.json["errors"]["headers"]
    dispatched.clear()
    assert _redeem(client, staff, three, _key("k" * 128)).status_code == 201
    assert dispatched == []
    assert _tally(app) == {"used": 3, "grants": 3, "verifications": 3, "spent": 3}


# -- requests the fast path leaves to Flask --------------------------------------------

def test_requests_the_fast_path_does_not_take_reach_flask(app, client, dispatched,
                                                          monkeypatch, counter):
    merchant, perk = counter
    staff = merchant["headers"]

    token = code_for(client, _person(client))
    dispatched.clear()
    r = _verify(client, staff, token, perk["id"], {"X-Request-Id": "counter-request-0001"})
    assert r.status_code == 201 and r.headers["X-Request-Id"] == "counter-request-0001"
    assert dispatched == [1]
    monkeypatch.setitem(app.config, "CORS_ORIGINS", ["https://counter.example"])
    dispatched.clear()
    r = _redeem(client, staff, r.json["id"], {"Origin": "https://counter.example"})
    assert r.status_code == 201
    assert r.headers["Access-Control-Allow-Origin"] == "https://counter.example"
    assert dispatched == [1]
    token = code_for(client, _person(client))
    dispatched.clear()
    r = client.post(VERIFY + "?lang=zh", json={"token": token, "perk_id": perk["id"]},
                    headers=staff)
    assert r.status_code == 201 and dispatched == [1]

    token = code_for(client, _person(client))
    body = {"token": token, "perk_id": perk["id"]}
    r = _flask_answers(app, monkeypatch, dispatched, lambda: client.post(
        VERIFY, data=json.dumps(body), headers={**staff, "Content-Type": "text/plain"}))
    assert r.status_code == 415 and r.json["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    for bad in ({**body, "perk_id": str(perk["id"])}, {**body, "unknown": 1}, {"token": token},
                {**body, "token": "x" * 5000}):
        r = _flask_answers(app, monkeypatch, dispatched,
                           lambda bad=bad: client.post(VERIFY, json=bad, headers=staff))
        assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR", bad
    for bad in ({"verification_id": "1"}, {"verification_id": 0}, {}):
        r = _flask_answers(app, monkeypatch, dispatched,
                           lambda bad=bad: client.post(REDEEM, json=bad, headers=staff))
        assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR", bad
    r = _flask_answers(app, monkeypatch, dispatched, lambda: client.post(
        VERIFY, data=b"{not json", headers={**staff, "Content-Type": "application/json"}))
    assert r.status_code == 400 and r.json["error_code"] == "MALFORMED_JSON"

    # none of it spent the code: it goes the fast way now (charset and all)
    dispatched.clear()
    r = client.post(VERIFY, data=json.dumps(body), headers={
        **staff, "Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201 and dispatched == []
    assert _tally(app) == {"used": 1, "grants": 1, "verifications": 3, "spent": 3}


def test_the_scan_limit_is_counted_in_flask_limiters_bucket(app, client, dispatched, limiter,
                                                           counter, monkeypatch):
    """With the per-staff limit of scans on, the fast path counts a scan in the same
    bucket as Flask-Limiter and sends its headers; a scan over the limit is refused by
    Flask (429); a scan the fast path counted and left to Flask is counted once."""
    merchant, perk = counter
    staff = merchant["headers"]
    monkeypatch.setitem(app.config, "RATELIMIT_VERIFY", "4/minute")
    tokens = [code_for(client, _person(client)) for _ in range(4)]
    dispatched.clear()
    r = _verify(client, staff, tokens[0], perk["id"])
    assert r.status_code == 201 and dispatched == []
    assert (r.headers["X-RateLimit-Limit"], r.headers["X-RateLimit-Remaining"]) == ("4", "3")
    assert int(r.headers["X-RateLimit-Reset"]) > 0 and "Retry-After" not in r.headers
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", False)
    r = _verify(client, staff, tokens[1], perk["id"])  # Flask: the same bucket
    assert r.status_code == 201 and r.headers["X-RateLimit-Remaining"] == "2"
    assert "Retry-After" not in r.headers  # a success asks nobody to wait
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", True)
    dispatched.clear()
    r = _verify(client, staff, tokens[1], perk["id"])  # counted here, refused by Flask
    assert r.status_code == 409 and r.json["error_code"] == "TOKEN_USED" and dispatched == [1]
    r = _verify(client, staff, tokens[2], perk["id"])  # the fourth scan: counted once above
    assert r.status_code == 201 and r.headers["X-RateLimit-Remaining"] == "0"
    dispatched.clear()
    r = _verify(client, staff, tokens[3], perk["id"])
    assert r.status_code == 429 and r.json["error_code"] == "RATE_LIMITED" and dispatched == [1]
    assert int(r.headers["Retry-After"]) > 0


def test_a_score_not_cached_is_flasks(app, client, dispatched, counter):
    """The fast path works from cached scores; a holder whose score must be rebuilt from
    records (the first scan after a cache loss) is scanned by Flask, which rebuilds and
    caches it: the next scan is the fast path's, with the same level."""
    merchant, perk = counter
    person = _person(client, cached=False)
    tokens = [code_for(client, person) for _ in range(2)]
    dispatched.clear()
    first = _verify(client, merchant["headers"], tokens[0], perk["id"])
    assert first.status_code == 201 and dispatched == [1]
    dispatched.clear()
    second = _verify(client, merchant["headers"], tokens[1], perk["id"])
    assert second.status_code == 201 and dispatched == []
    assert first.json["level"] == second.json["level"] == "A"
    assert _tally(app)["verifications"] == 2


def test_another_merchant_check_is_flasks(client, dispatched, counter, monkeypatch):
    """The fast path repeats the merchant role's cached check; a different check in
    its place (a new rule for staff) is honoured by leaving the request to Flask."""
    from api import access
    from points.errors import Forbidden

    merchant, perk = counter
    calls = []

    def stricter(principal):
        calls.append(principal.id)
        raise Forbidden("counter closed for the night")

    token = code_for(client, _person(client))
    monkeypatch.setitem(access.ROLE_CHECKS, "merchant", stricter)
    dispatched.clear()
    r = _verify(client, merchant["headers"], token, perk["id"])
    assert r.status_code == 403 and r.json["message"] == "counter closed for the night"
    assert dispatched == [1] and len(calls) == 1


def test_staff_of_several_merchants_name_one(app, client, dispatched, counter):
    merchant, _ = counter
    owner = {"headers": merchant["headers"], "openid": merchant["openid"]}
    second = approved_merchant(app, client, name="乙家政", sector="housekeeping", owner=owner)
    as_second = {**owner["headers"], "X-Merchant-Id": str(second["id"])}
    perk = make_perk(client, {"headers": as_second})  # caches the seats again
    token = code_for(client, _person(client))

    dispatched.clear()
    r = _verify(client, owner["headers"], token, perk["id"])
    assert r.status_code == 422 and r.json["error_code"] == "MERCHANT_REQUIRED"
    r = _verify(client, {**owner["headers"], "X-Merchant-Id": "abc"}, token, perk["id"])
    assert r.status_code == 422
    r = _verify(client, {**owner["headers"], "X-Merchant-Id": "999999"}, token, perk["id"])
    assert r.status_code == 403
    assert dispatched == [1, 1, 1]
    dispatched.clear()
    r = _verify(client, as_second, token, perk["id"])
    assert r.status_code == 201 and dispatched == []
    r = _redeem(client, as_second, r.json["id"])
    assert r.status_code == 201 and dispatched == []
    assert _tally(app) == {"used": 1, "grants": 1, "verifications": 1, "spent": 1}


# -- cached seats follow every change ----------------------------------------------------

def test_a_removed_clerk_is_refused_at_once(app, client, dispatched, counter):
    merchant, perk = counter
    clerk = auth(dev_login(client)["access_token"])
    code = client.post("/v1/merchant/invitations", headers=merchant["headers"]).json["code"]
    assert client.post(f"/v1/merchants/invitations/{code}/accept", headers=clerk).status_code \
        == 200
    assert client.get("/v1/merchant", headers=clerk).status_code == 200  # seats cached
    token = code_for(client, _person(client))
    dispatched.clear()
    verified = _verify(client, clerk, token, perk["id"])
    assert verified.status_code == 201 and dispatched == []

    clerk_id = client.get("/v1/me", headers=clerk).json["id"]
    assert client.delete(f"/v1/merchant/staff/{clerk_id}",
                         headers=merchant["headers"]).status_code == 204
    token = code_for(client, _person(client))
    dispatched.clear()
    r = _verify(client, clerk, token, perk["id"])
    assert r.status_code == 403 and r.json["error_code"] == "FORBIDDEN"
    r = _redeem(client, clerk, verified.json["id"])
    assert r.status_code == 403 and r.json["error_code"] == "FORBIDDEN"
    assert dispatched == [1, 1]
    assert _tally(app) == {"used": 0, "grants": 0, "verifications": 1, "spent": 1}
    # the refused scan spent nothing: the owner can still use the code
    assert _verify(client, merchant["headers"], token, perk["id"]).status_code == 201


def test_a_suspended_merchant_is_refused_at_once(app, client, dispatched, counter):
    merchant, perk = counter
    staff = merchant["headers"]
    token, later = (code_for(client, _person(client)) for _ in range(2))
    dispatched.clear()
    verified = _verify(client, staff, token, perk["id"])
    assert verified.status_code == 201 and dispatched == []

    r = client.post(f"/v1/admin/merchants/{merchant['id']}/suspend", headers=merchant["admin"],
                    json={"reason": "投诉核实"})
    assert r.status_code == 200, r.json
    dispatched.clear()
    r = _redeem(client, staff, verified.json["id"])
    assert r.status_code == 403 and r.json["error_code"] == "FORBIDDEN"
    r = _verify(client, staff, later, perk["id"])
    assert r.status_code == 403 and r.json["error_code"] == "FORBIDDEN"
    assert dispatched == [1, 1]
    assert _tally(app) == {"used": 0, "grants": 0, "verifications": 1, "spent": 1}


# -- failures: before COMMIT run again by Flask; during COMMIT never ----------------------

def _fails_after_first_run(real, calls: list):
    """`real`, whose first call does its work and then fails before COMMIT."""

    def failing_once(*args, **kwargs):
        calls.append(1)
        answer = real(*args, **kwargs)
        if len(calls) == 1:
            raise RuntimeError("a failure before COMMIT, after the work")
        return answer

    return failing_once


def _first_commit_fails(monkeypatch, error: Exception, *, committed: bool = False) -> list:
    """The fast path's first COMMIT raises `error` (after committing, if `committed`);
    the later ones commit. The list returned counts the failures."""
    real, failed = counter_fastpath._commit, []

    def failing(transaction):
        if failed:
            return real(transaction)
        failed.append(1)
        if committed:
            real(transaction)
        raise error

    monkeypatch.setattr(counter_fastpath, "_commit", failing)
    return failed


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "not-committed"])
def test_a_connection_lost_during_commit_is_503_and_not_run_again(
        app, client, dispatched, monkeypatch, counter, committed):
    merchant, perk = counter
    staff = merchant["headers"]
    verification = verify(client, merchant, _person(client), perk["id"])["id"]
    lost = _first_commit_fails(monkeypatch, _lost_connection(), committed=committed)
    dispatched.clear()
    r = _redeem(client, staff, verification, _key("lost-1"))
    assert r.status_code == 503 and r.json["error_code"] == "DATABASE_UNAVAILABLE"
    assert r.headers["Retry-After"] == "5"
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-Id"])
    for name, value in SECURITY_HEADERS_API:
        assert r.headers[name] == value, name
    assert lost == [1] and dispatched == []  # Flask did not run it again
    grants = 1 if committed else 0
    assert _tally(app) == {"used": grants, "grants": grants, "verifications": 1, "spent": 1}

    # the counter retries with the key: a replay of what committed, or the grant now
    dispatched.clear()
    r = _redeem(client, staff, verification, _key("lost-1"))
    assert r.status_code == 201 and r.json["verification_id"] == verification
    assert r.headers.get("Idempotent-Replayed") == ("true" if committed else None)
    assert dispatched == ([1] if committed else [])
    assert _tally(app) == {"used": 1, "grants": 1, "verifications": 1, "spent": 1}


def test_a_failed_grant_is_rolled_back_and_run_again_by_flask(app, client, dispatched,
                                                             monkeypatch, counter):
    merchant, perk = counter
    staff = merchant["headers"]
    verification = verify(client, merchant, _person(client), perk["id"])["id"]
    calls = []  # the grant written, the quota unit taken, and then a failure
    monkeypatch.setattr(counter_fastpath.redemptions, "redeem",
                        _fails_after_first_run(redemptions.redeem, calls))
    dispatched.clear()
    r = _redeem(client, staff, verification, _key("fails-once"))
    assert r.status_code == 201, r.json
    assert "Idempotent-Replayed" not in r.headers  # the key's claim was rolled back too
    assert dispatched == [1] and len(calls) == 2
    assert _tally(app) == {"used": 1, "grants": 1, "verifications": 1, "spent": 1}
    again = _redeem(client, staff, verification, _key("fails-once"))
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == r.json


def test_a_failed_scan_is_rolled_back_and_run_again_by_flask(app, client, dispatched,
                                                            monkeypatch, counter):
    merchant, perk = counter
    calls = []  # the code spent, the access logged, and then a failure
    token = code_for(client, _person(client))
    monkeypatch.setattr(counter_fastpath.codes, "verify",
                        _fails_after_first_run(codes.verify, calls))
    dispatched.clear()
    r = _verify(client, merchant["headers"], token, perk["id"])
    assert r.status_code == 201 and r.json["eligible"] is True, r.json
    assert dispatched == [1] and len(calls) == 2
    assert _tally(app) == {"used": 0, "grants": 0, "verifications": 1, "spent": 1}


def test_a_commit_refused_without_losing_the_connection_is_run_again(
        app, client, dispatched, monkeypatch, counter):
    """A COMMIT the database refused (nothing committed, the connection fine) is
    rolled back and left to Flask, like any failure before it."""
    merchant, perk = counter
    verification = verify(client, merchant, _person(client), perk["id"])["id"]
    refused = _first_commit_fails(
        monkeypatch, DBAPIError("COMMIT", None, Exception("serialization failure")))
    dispatched.clear()
    r = _redeem(client, merchant["headers"], verification, _key("refused-1"))
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers, r.json
    assert refused == [1] and dispatched == [1]
    assert _tally(app) == {"used": 1, "grants": 1, "verifications": 1, "spent": 1}


# -- what the review of the fast path found ---------------------------------------

def test_answers_are_encoded_as_flask_does_and_before_commit(app, client, dispatched,
                                                              monkeypatch):
    """The answer is Flask's JSON (an integer past 64 bits, a float written as
    Python writes it) and is encoded before COMMIT: an encoding that fails leaves
    nothing committed, and Flask makes the grant once."""
    merchant = approved_merchant(app, client)
    for value in (2**70, 1e-07):
        perk = make_perk(client, merchant, total_quota=5,
                         benefit={"kind": "discount", "value": value})
        scan = verify(client, merchant, _person(client), perk["id"])
        dispatched.clear()
        r = _redeem(client, merchant["headers"], scan["id"], _key(f"big-{value}"))
        assert r.status_code == 201 and dispatched == [], r.get_data()
        assert r.json["terms"]["benefit"]["value"] == value
        assert json.dumps(value).encode() in r.get_data()
    perk = make_perk(client, merchant, total_quota=5)
    scan = verify(client, merchant, _person(client), perk["id"])
    failures = []
    real = counter_fastpath.MerchantCounter._encoded

    def failing_once(self, answer):
        if not failures:
            failures.append(answer)
            raise TypeError("cannot encode")
        return real(self, answer)

    monkeypatch.setattr(counter_fastpath.MerchantCounter, "_encoded", failing_once)
    before = _tally(app)
    dispatched.clear()
    r = _redeem(client, merchant["headers"], scan["id"], _key("encode-fails"))
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert failures and dispatched == [1]
    assert _tally(app)["grants"] == before["grants"] + 1


def test_a_database_out_of_reach_is_flasks_503(app, client, dispatched, monkeypatch, counter):
    """No pooled connection to be had (pool exhausted, database down): Flask's answer,
    503 DATABASE_UNAVAILABLE, not an error escaping the fast path."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    merchant, perk = counter
    scan = verify(client, merchant, _person(client), perk["id"])
    engine = app.extensions["credit"].db.engine

    def no_connection(*args, **kwargs):
        raise PoolTimeout("QueuePool limit reached")

    monkeypatch.setattr(engine, "connect", no_connection)
    dispatched.clear()
    r = _redeem(client, merchant["headers"], scan["id"])
    assert r.status_code == 503 and r.json["error_code"] == "DATABASE_UNAVAILABLE"
    assert dispatched == [1]


def test_bodies_flask_refuses_are_flasks(app, client, dispatched, monkeypatch, counter):
    """Bodies are read as the view reads them: strict UTF-8 (no BOM, no UTF-16), the
    media type as werkzeug parses it, the app's MAX_CONTENT_LENGTH; and JSON nested
    too deep for the parser is left to Flask as well."""
    merchant, perk = counter
    staff = merchant["headers"]
    token = code_for(client, _person(client))
    body = json.dumps({"token": token, "perk_id": perk["id"]})
    dispatched.clear()
    for raw, content_type, status in (
            (b"\xef\xbb\xbf" + body.encode(), "application/json", 400),
            (body.encode("utf-16"), "application/json", 400),
            (body.encode(), "application/json\xa0", 415)):
        r = client.post(VERIFY, data=raw, headers={**staff, "Content-Type": content_type})
        assert r.status_code == status and r.json["error_code"], (content_type, r.json)
    assert dispatched == [1, 1, 1]
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 20)
    assert _verify(client, staff, token, perk["id"]).status_code == 413  # Flask's answer
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2 * 1024 * 1024)
    deep = b'{"token": ' + b"[" * 1500 + b"]" * 1500 + b', "perk_id": 1}'
    with pytest.raises(counter_fastpath.Defer):
        counter_fastpath._parsed(deep)
    dispatched.clear()
    r = _verify(client, staff, token, perk["id"])  # the code is still unspent
    assert r.status_code == 201 and dispatched == []


def test_an_unknown_commit_outcome_without_a_cause_is_a_500(app, client, dispatched,
                                                             monkeypatch, counter):
    """Flask's answer to an error it has no handler for (its 500), never an exception
    out of the middleware, and never the grant run again."""
    merchant, perk = counter
    scan = verify(client, merchant, _person(client), perk["id"])

    def lost_without_cause(transaction):
        transaction.commit()
        raise _CommitInterrupted

    monkeypatch.setattr(counter_fastpath, "_commit", lost_without_cause)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    dispatched.clear()
    r = _redeem(client, merchant["headers"], scan["id"])
    assert r.status_code == 500 and r.json["error_code"]
    assert dispatched == [] and _tally(app)["grants"] == 1


def test_a_failure_after_commit_never_runs_the_grant_again(app, client, dispatched,
                                                           monkeypatch, counter):
    """Once COMMIT went through, the answer stands: a failure while the app context
    closes is logged, the 201 is sent, and Flask does not run the grant again."""
    merchant, perk = counter
    scan = verify(client, merchant, _person(client), perk["id"])
    failures = []

    def failing_once(exc=None):
        if not failures:
            failures.append(1)
            raise RuntimeError("teardown failed")

    monkeypatch.setattr(app, "teardown_appcontext_funcs",
                        [*app.teardown_appcontext_funcs, failing_once])
    before = _tally(app)
    dispatched.clear()
    r = _redeem(client, merchant["headers"], scan["id"], _key("after-commit"))
    assert r.status_code == 201 and failures == [1] and dispatched == []
    assert _tally(app)["grants"] == before["grants"] + 1


def test_hostile_bodies_are_refused_by_flask_and_spend_nothing(app, client, dispatched,
                                                               counter):
    """A lone surrogate, nesting 900 levels deep, an integer over 4,300 digits, a malformed
    chunked body: the fast path reads the body as Flask does (api/bodies.py) and leaves it
    to Flask, which answers 400 with an error_code; the code stays unspent."""
    merchant, perk = counter
    staff = merchant["headers"]
    token = code_for(client, _person(client))
    before = _tally(app)
    start = f'{{"token": "{token}'
    for raw in (f'{start}\\ud800", "perk_id": {perk["id"]}}}',
                f'{start}", "perk_id": {perk["id"]}, "x": {"[" * 900 + "]" * 900}}}',
                f'{start}", "perk_id": {"1" * 4301}}}'):
        with pytest.raises(counter_fastpath.Defer):
            counter_fastpath._parsed(raw.encode())
        dispatched.clear()
        r = client.post(VERIFY, data=raw, headers={**staff, "Content-Type": "application/json"})
        assert (r.status_code, r.json["error_code"]) == (400, "MALFORMED_JSON"), r.json
        assert dispatched == [1]
    from io import BytesIO

    from werkzeug.serving import DechunkedInput

    dispatched.clear()
    r = client.post(REDEEM, headers={**staff, "Content-Type": "application/json",
                                     "Transfer-Encoding": "chunked"},
                    environ_overrides={"wsgi.input": DechunkedInput(BytesIO(b"zz\r\n{}\r\n")),
                                       "wsgi.input_terminated": True})
    assert (r.status_code, r.json["error_code"]) == (400, "MALFORMED_BODY")
    assert dispatched == []  # refused before either path
    assert _tally(app) == before
    assert _verify(client, staff, token, perk["id"]).status_code == 201


@pytest.mark.parametrize("fast", [True, False])
def test_an_idempotency_key_is_the_staff_members_at_each_merchant(app, client, dispatched,
                                                                  monkeypatch, counter, fast):
    """A clerk of two merchants using one key at each: two grants, neither a replay of
    the other (the scope holds X-Merchant-Id), on the fast path and on Flask's."""
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", fast)
    merchant, first_perk = counter
    owner = {"headers": merchant["headers"], "openid": merchant["openid"]}
    second = approved_merchant(app, client, name="乙家政", sector="housekeeping", owner=owner)
    as_first = {**owner["headers"], "X-Merchant-Id": str(merchant["id"])}
    as_second = {**owner["headers"], "X-Merchant-Id": str(second["id"])}
    second_perk = make_perk(client, {"headers": as_second})
    at_first = _verify(client, as_first, code_for(client, _person(client)), first_perk["id"])
    at_second = _verify(client, as_second, code_for(client, _person(client)), second_perk["id"])
    one = _redeem(client, as_first, at_first.json["id"], _key("shared-key"))
    dispatched.clear()
    two = _redeem(client, as_second, at_second.json["id"], _key("shared-key"))
    assert one.status_code == two.status_code == 201, two.json
    assert "Idempotent-Replayed" not in two.headers
    assert two.json["perk_id"] == second_perk["id"] != one.json["perk_id"]
    assert dispatched == ([] if fast else [1])
    again = _redeem(client, as_first, at_first.json["id"], _key("shared-key"))
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == one.json
