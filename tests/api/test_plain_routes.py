"""The plain routes (api/pipeline.py): the merchant counter's scan and grant and the
resident's points read, run by `PlainRoutes` through the pipeline's steps without
Flask's dispatch, or handed over to Flask.

Covered: a plain run answers what Flask answers (status, body and its encoding,
headers) and commits the same; its errors are the app's error handlers' answers,
with nothing half-written; an Idempotency-Key is one key whichever of the two
answers, and is the staff member's at each merchant; requests that need anything
else (a query string, an Origin, an X-Request-Id to echo, a non-JSON, large or
hostile body, a body the schema refuses, a scan over its rate limit) are Flask's,
and a rate limit is counted once; the caller check follows every change of the
session, the seat and the merchant at once; a connection lost during COMMIT, or a
failure after it, never runs the work again; Redis going away is survived; an app
with a hook the plain run does not know refuses to start.

`plain_runs` lists the plain runs started (`PlainRoutes._run`) and `dispatched` the
requests that reached Flask's dispatch: a request the plain run answered has a run
and no dispatch; one it handed over has both; one it did not take, the dispatch only.
"""
from __future__ import annotations

import copy
import io
import json
import re
import sys

import pytest
import rq
import time_machine
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError

from api import SECURITY_HEADERS_API, pipeline, uow
from incentives.models import Verification
from points.scores import score_cache
from tests.builders.clock import at
from tests.builders.departments import department, push
from tests.builders.merchants import (
    REDEEM,
    VERIFY,
    approved_merchant,
    code_for,
    customer,
    grant,
    make_perk,
    scan,
    tally,
    verify,
)
from tests.builders.residents import auth, dev_login, resident, signed_in, valid_id

POINTS = "/v1/me/points"
# What differs between two answers made the same way: ids and times.
VOLATILE = {"id", "verification_id", "redeem_before", "redeemed_at"}


@pytest.fixture
def limiter(app):
    """The rate limiter switched on for one test, off again afterwards."""
    limits = app.state.limiter
    limits.reset()
    limits.enabled = True
    yield limits
    limits.enabled = False
    limits.reset()


def _key(key: str) -> dict:
    return {"Idempotency-Key": key}


def _stable(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in VOLATILE}


def _header_names(response) -> list[str]:
    return sorted(name.lower() for name, _ in response.headers)


def _points(client, person: dict, **headers):
    return client.get(POINTS, headers={**person["headers"], **headers})


def _cached_resident(client, seq: int) -> tuple[dict, dict]:
    """A resident whose account gate and score are cached (read twice), and the points."""
    person = resident(client, id_number=valid_id(seq=seq))
    for _ in range(2):
        r = _points(client, person)
        assert r.status_code == 200
    return person, r.json


def _as_flask(app, monkeypatch, plain_runs, dispatched, call, *, switch="COUNTER_FAST_PATH",
              way: str = "answered"):
    """`call()` (which must change nothing) with the plain run on, then switched off:
    the same status, body and header names. With it on, the plain run took the
    request `way`: "answered" (a run, no dispatch), "handed over" (a run, then
    Flask's dispatch) or "not taken" (the dispatch only). The answer with it on."""
    runs, dispatches = {"answered": (1, []), "handed over": (1, [1]), "not taken": (0, [1])}[way]
    plain_runs.clear()
    dispatched.clear()
    on = call()
    assert (len(plain_runs), dispatched) == (runs, dispatches), (plain_runs, on.get_data())
    monkeypatch.setitem(app.config, switch, False)
    try:
        plain_runs.clear()
        dispatched.clear()
        off = call()
    finally:
        monkeypatch.setitem(app.config, switch, True)
    assert (plain_runs, dispatched) == ([], [1])
    assert (on.status_code, on.json) == (off.status_code, off.json)
    assert _header_names(on) == _header_names(off)
    return on


def _lost_during_commit(monkeypatch, *, committed: bool) -> list:
    """The next COMMIT loses its connection (after committing, if `committed`), as
    api.uow.RequestWork.commit reports it; the later ones commit. The list counts the
    losses."""
    real, lost = uow.RequestWork.commit, []

    def losing(work, last=None):
        if lost:
            return real(work, last)
        lost.append(1)
        if committed:
            real(work, last)
        else:
            work.rollback()
        raise uow.OutcomeUnknown from DBAPIError("COMMIT", None, Exception("lost"),
                                                 connection_invalidated=True)

    monkeypatch.setattr(uow.RequestWork, "commit", losing)
    return lost


def _failing_once(real, calls: list):
    """`real`, whose first call does its work and then fails (before COMMIT)."""

    def failing(*args, **kwargs):
        calls.append(1)
        answer = real(*args, **kwargs)
        if len(calls) == 1:
            raise RuntimeError("a failure before COMMIT, after the work")
        return answer

    return failing


# -- the same answers, committed ---------------------------------------------------------

def test_the_counters_answers_are_flasks(app, client, dispatched, plain_runs, monkeypatch,
                                         counter):
    merchant, perk = counter
    staff = merchant["headers"]
    answers, people = {}, {}
    for plain in (False, True):  # a resident each, made the same way
        monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", plain)
        person = people[plain] = customer(client, name="张小三")
        token = code_for(client, person)
        plain_runs.clear()
        dispatched.clear()
        plain_runs.clear()
        verified = scan(client, staff, token, perk["id"])
        granted = grant(client, staff, verified.json["id"])
        assert (plain_runs, dispatched) == (([VERIFY, REDEEM], []) if plain else ([], [1, 1]))
        answers[plain] = (verified, granted)

    for ran, flask in zip(answers[True], answers[False], strict=True):
        assert ran.status_code == flask.status_code == 201
        assert _stable(ran.json) == _stable(flask.json)
        assert list(ran.json) == list(flask.json)  # the same keys, in the same order
        assert ran.headers["Content-Type"] == flask.headers["Content-Type"]
        assert _header_names(ran) == _header_names(flask)
        for name, value in SECURITY_HEADERS_API:
            assert ran.headers[name] == flask.headers[name] == value, name
        assert re.fullmatch(r"[0-9a-f]{32}", ran.headers["X-Request-Id"])
        assert ran.headers["X-Request-Id"] != flask.headers["X-Request-Id"]
        assert int(ran.headers["Content-Length"]) == len(ran.get_data())
        # serialised alike: compact, sorted keys, UTF-8 (the masked name is not escaped)
        for response in (ran, flask):
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
    assert tally(app) == {"used": 2, "grants": 2, "verifications": 2, "spent": 2}
    log = client.get("/v1/me/access-log", headers=people[True]["headers"]).json
    assert [e["purpose"] for e in log] == ["perk_verification"]
    mine = client.get("/v1/me/redemptions", headers=people[True]["headers"]).json
    assert [(m["id"], m["status"]) for m in mine] == [(granted["id"], "granted")]


def test_the_points_read_is_flasks(app, client, dispatched, plain_runs, monkeypatch):
    number = valid_id(seq=611)
    person = resident(client, id_number=number)
    push(client, department(app, client), {"type": "donation.blood", "id_number": number,
                                            "occurred_on": "2026-05-01"})
    monkeypatch.setitem(app.config, "POINTS_FAST_PATH", False)
    first = _points(client, person).json  # rebuilt from records; fills the caches
    # the only boundary after today is the record's window end
    assert first["next_change_on"] == first["items"][0]["counted_until"] is not None
    flask = _points(client, person)
    assert flask.json == first
    monkeypatch.setitem(app.config, "POINTS_FAST_PATH", True)
    plain_runs.clear()
    dispatched.clear()
    ran = _points(client, person)
    assert plain_runs == [POINTS] and dispatched == []
    assert ran.status_code == flask.status_code == 200
    assert ran.get_data() == flask.get_data()
    assert ran.json["items"] and ran.json["points"] > ran.json["base"]
    assert _header_names(ran) == _header_names(flask)
    for name in ("Content-Type", "Content-Length", "Cache-Control", "X-Content-Type-Options",
                 "Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"):
        assert ran.headers[name] == flask.headers[name], name
    assert re.fullmatch(r"[0-9a-f]{32}", ran.headers["X-Request-Id"])
    assert ran.headers["X-Request-Id"] != flask.headers["X-Request-Id"]


def test_a_read_whose_score_is_not_cached_is_rebuilt_by_the_plain_run(client, dispatched,
                                                                      plain_runs):
    person = resident(client, id_number=valid_id(seq=612))
    plain_runs.clear()
    dispatched.clear()
    first = _points(client, person)  # nothing cached yet: rebuilt and cached
    second = _points(client, person)
    assert first.status_code == second.status_code == 200
    assert first.json == second.json and first.json["points"] == 1000
    assert plain_runs == [POINTS, POINTS] and dispatched == []


def test_a_scan_whose_score_is_not_cached_has_the_same_level(app, client, dispatched,
                                                             plain_runs, counter):
    """The first scan after a cache loss rebuilds the holder's score; the next one reads
    it cached: the same level either way, both answered by the plain run."""
    merchant, perk = counter
    person = customer(client, cached=False)
    tokens = [code_for(client, person) for _ in range(2)]
    plain_runs.clear()
    dispatched.clear()
    first = scan(client, merchant["headers"], tokens[0], perk["id"])
    second = scan(client, merchant["headers"], tokens[1], perk["id"])
    assert first.status_code == second.status_code == 201
    assert first.json["level"] == second.json["level"] == "A"
    assert plain_runs == [VERIFY, VERIFY] and dispatched == []
    assert tally(app)["verifications"] == 2


@pytest.fixture
def sessions_begun():
    """The ORM sessions that began a transaction, in order (any session of any app)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    begun = []

    def record(session, transaction, connection):
        if transaction.parent is None:
            begun.append(session)

    event.listen(Session, "after_begin", record)
    yield begun
    event.remove(Session, "after_begin", record)


def test_the_counter_runs_on_a_core_connection_in_no_app_context(
        app, client, dispatched, plain_runs, monkeypatch, counter, sessions_begun):
    """A scan and a grant whose caller, seat and score are cached run their statements
    on a Core connection (the unit of work's, api/uow.py): no ORM session begins, and
    the plain run pushes no Flask app context (its scope is api/scope.py's); what they
    wrote is committed."""
    merchant, perk = counter
    person = customer(client)
    token = code_for(client, person)
    contexts = []
    real = app.app_context
    monkeypatch.setattr(app, "app_context", lambda: contexts.append(1) or real())
    before = tally(app)
    plain_runs.clear()
    dispatched.clear()
    sessions_begun.clear()
    scanned = scan(client, merchant["headers"], token, perk["id"])
    assert scanned.status_code == 201, scanned.json
    granted = grant(client, merchant["headers"], scanned.json["id"], _key("core-1"))
    assert granted.status_code == 201, granted.json
    assert plain_runs == [VERIFY, REDEEM] and dispatched == []
    assert sessions_begun == [] and contexts == []
    after = tally(app)
    assert (after["verifications"], after["grants"]) == (before["verifications"] + 1,
                                                         before["grants"] + 1)


def test_a_scan_that_needs_the_orm_joins_the_connections_transaction(
        app, client, dispatched, plain_runs, counter, sessions_begun):
    """A scan whose holder's score is not cached rebuilds it through an ORM session
    joined to the unit of work's connection: one transaction (the score, the spent code
    and the verification committed together), and the session's after-commit hooks run
    (the rebuilt score is cached: the next scan needs no session)."""
    merchant, perk = counter
    person = customer(client, cached=False)
    tokens = [code_for(client, person) for _ in range(2)]
    state = app.state
    plain_runs.clear()
    dispatched.clear()
    sessions_begun.clear()
    first = scan(client, merchant["headers"], tokens[0], perk["id"])
    assert first.status_code == 201 and first.json["level"] == "A", first.json
    assert len(sessions_begun) == 1
    assert isinstance(sessions_begun[0].bind, Connection)  # the unit of work's, joined
    with app.app_context():
        session = state.db.new_session()
        subject = session.execute(select(Verification.subject_id).where(
            Verification.id == first.json["id"])).scalar_one()
        session.close()
    assert score_cache.get(state.redis, subject) is not None  # cached after the commit
    sessions_begun.clear()
    second = scan(client, merchant["headers"], tokens[1], perk["id"])
    assert second.status_code == 201 and second.json["level"] == "A"
    assert sessions_begun == [] and plain_runs == [VERIFY, VERIFY] and dispatched == []


def test_a_level_a_plain_read_changes_has_its_wechat_message_queued(app, client, dispatched,
                                                                   plain_runs, monkeypatch):
    """The first read after two penalties stopped counting finds the cached score out of
    date and rebuilds it in the plain run (no app context): the level goes from B back
    to A, the resident is noticed, and after the commit the message's delivery job is
    queued (api/tasks.py reads the request's scope)."""
    queued = []
    monkeypatch.setattr(rq.Queue, "enqueue", lambda queue, func, *args, **kwargs:
                        queued.append((queue.name, func.__name__, args)))
    with time_machine.travel(at("2026-06-15"), tick=False):
        dept = department(app, client, "plain-levels")
        number = valid_id(seq=613)
        person = resident(client, id_number=number)
        push(client, dept, *({"type": "admin.penalty.general", "id_number": number,
                              "decided_on": "2026-06-10"} for _ in range(2)))
        assert _points(client, person).json["level"] == "B"  # 940, cached until 2027-06-10
    with time_machine.travel(at("2027-06-11"), tick=False):
        headers = signed_in(client, person["openid"])
        plain_runs.clear()
        dispatched.clear()
        queued.clear()
        r = client.get(POINTS, headers=headers)
        assert r.status_code == 200 and (r.json["points"], r.json["level"]) == (1000, "A")
        assert plain_runs == [POINTS] and dispatched == []
        notices = client.get("/v1/me/notifications", headers=headers).json
    [level] = [n for n in notices if n["kind"] == "level_changed"]
    assert level["body"].startswith("您的信用等级由 B 级变为 A 级")
    [(queue, job, (ids,))] = queued
    assert (queue, job) == ("notifications", "deliver_job") and len(ids) == 1


def test_answers_are_encoded_as_flask_does(app, client, dispatched, plain_runs, monkeypatch):
    """The answer is Flask's JSON: an integer past 64 bits, a float written as Python
    writes it; indented as Flask indents it in debug mode."""
    merchant = approved_merchant(app, client)
    for value in (2**70, 1e-07):
        perk = make_perk(client, merchant, total_quota=5,
                         benefit={"kind": "discount", "value": value})
        scanned = verify(client, merchant, customer(client), perk["id"])
        plain_runs.clear()
        dispatched.clear()
        r = grant(client, merchant["headers"], scanned["id"], _key(f"big-{value}"))
        assert r.status_code == 201 and dispatched == [], r.get_data()
        assert r.json["terms"]["benefit"]["value"] == value
        assert json.dumps(value).encode() in r.get_data()
    perk = make_perk(client, merchant, total_quota=5)
    monkeypatch.setattr(app, "debug", True)  # Flask indents its JSON in debug mode
    answers = {}
    for plain in (True, False):
        monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", plain)
        token = code_for(client, customer(client))
        plain_runs.clear()
        answers[plain] = scan(client, merchant["headers"], token, perk["id"])
        assert plain_runs == ([VERIFY] if plain else [])
    ran, flask = answers[True], answers[False]
    assert _stable(ran.json) == _stable(flask.json)
    for response in (ran, flask):
        assert response.get_data() == json.dumps(
            response.json, ensure_ascii=False, sort_keys=True, indent=2).encode() + b"\n"


# -- errors: the app's error handlers, nothing half-written -------------------------------

def test_the_counters_refusals_are_flasks_and_leave_nothing(app, client, dispatched, plain_runs,
                                                            monkeypatch, counter):
    merchant, perk = counter
    staff = merchant["headers"]
    other = approved_merchant(app, client, name="乙家政", sector="housekeeping")
    other_perk = make_perk(client, other)
    theirs = verify(client, other, customer(client), other_perk["id"])
    token = code_for(client, customer(client))

    first = scan(client, staff, token, perk["id"])
    assert first.status_code == 201
    r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                  lambda: scan(client, staff, token, perk["id"]))
    assert r.status_code == 409 and r.json["error_code"] == "TOKEN_USED"
    r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                  lambda: scan(client, staff, "made-up-code", perk["id"]))
    assert r.status_code == 410 and r.json["error_code"] == "TOKEN_EXPIRED"
    # another merchant's perk: 404, and the code is not spent by the attempt
    fresh = code_for(client, customer(client))
    r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                  lambda: scan(client, staff, fresh, other_perk["id"]))
    assert r.status_code == 404 and r.json["error_code"] == "PERK_NOT_FOUND"

    assert grant(client, staff, first.json["id"]).status_code == 201
    r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                  lambda: grant(client, staff, first.json["id"]))
    assert r.status_code == 409 and r.json["error_code"] == "ALREADY_REDEEMED"
    for verification_id in (theirs["id"], 987654):  # not this merchant's; unknown
        r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                      lambda v=verification_id: grant(client, staff, v))
        assert r.status_code == 404 and r.json["error_code"] == "VERIFICATION_NOT_FOUND"

    # one code spent by this merchant (and the other's own), one grant, one unit used
    assert tally(app) == {"used": 1, "grants": 1, "verifications": 2, "spent": 2}
    assert scan(client, staff, fresh, perk["id"]).status_code == 201  # the 404 spent nothing


def test_the_points_reads_refusals_are_flasks(app, client, dispatched, plain_runs,
                                              monkeypatch):
    person, _ = _cached_resident(client, 614)
    client.put("/v1/me/consents/credit_points", headers=person["headers"],
               json={"granted": False, "policy_version": "2026-01"})
    r = _as_flask(app, monkeypatch, plain_runs, dispatched, lambda: _points(client, person),
                  switch="POINTS_FAST_PATH")
    assert r.status_code == 403 and r.json["error_code"] == "CONSENT_REQUIRED"
    unbound = resident(client, id_number=False)
    r = _as_flask(app, monkeypatch, plain_runs, dispatched, lambda: _points(client, unbound),
                  switch="POINTS_FAST_PATH")
    assert r.status_code == 409 and r.json["error_code"] == "IDENTITY_REQUIRED"
    for headers in ({"Authorization": "Bearer nonsense"}, {}):
        r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                      lambda h=headers: client.get(POINTS, headers=h),
                      switch="POINTS_FAST_PATH")
        assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
    plain_runs.clear()
    plain_runs.clear()
    dispatched.clear()
    assert client.post(POINTS, headers=person["headers"]).status_code == 405
    assert plain_runs == [] and dispatched == [1]  # not a plain route's method


def test_a_database_out_of_reach_is_503(app, client, dispatched, plain_runs, monkeypatch,
                                        counter):
    """No pooled connection to be had (pool exhausted, database down): 503
    DATABASE_UNAVAILABLE, as Flask answers it, never an error escaping the run."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    merchant, perk = counter
    scanned = verify(client, merchant, customer(client), perk["id"])
    engine = app.state.db.engine

    def no_connection(*args, **kwargs):
        raise PoolTimeout("QueuePool limit reached")

    monkeypatch.setattr(engine, "connect", no_connection)
    r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                  lambda: grant(client, merchant["headers"], scanned["id"]))
    assert r.status_code == 503 and r.json["error_code"] == "DATABASE_UNAVAILABLE"


def test_an_error_without_a_handler_is_flasks_500(app, client, dispatched, plain_runs,
                                                  monkeypatch, counter):
    """An error no handler knows: Flask's 500 with an error_code, the grant rolled back
    (the key's claim too: the retry grants, once)."""
    from incentives import redemptions

    merchant, perk = counter
    scanned = verify(client, merchant, customer(client), perk["id"])
    calls = []  # the grant written, the quota unit taken, and then a failure
    monkeypatch.setattr(redemptions, "redeem", _failing_once(redemptions.redeem, calls))
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    plain_runs.clear()
    dispatched.clear()
    r = grant(client, merchant["headers"], scanned["id"], _key("fails-once"))
    assert r.status_code == 500 and r.json["error_code"], r.json
    assert plain_runs == [REDEEM] and dispatched == [] and calls == [1]
    assert tally(app) == {"used": 0, "grants": 0, "verifications": 1, "spent": 1}
    again = grant(client, merchant["headers"], scanned["id"], _key("fails-once"))
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert tally(app) == {"used": 1, "grants": 1, "verifications": 1, "spent": 1}


def test_a_failed_scan_is_rolled_back(app, client, dispatched, plain_runs, monkeypatch,
                                      counter):
    from incentives import codes

    merchant, perk = counter
    token = code_for(client, customer(client))
    calls = []  # the code spent, the access logged, and then a failure
    monkeypatch.setattr(codes, "verify", _failing_once(codes.verify, calls))
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    plain_runs.clear()
    dispatched.clear()
    r = scan(client, merchant["headers"], token, perk["id"])
    assert r.status_code == 500 and plain_runs == [VERIFY] and dispatched == []
    assert tally(app) == {"used": 0, "grants": 0, "verifications": 0, "spent": 0}
    r = scan(client, merchant["headers"], token, perk["id"])  # the code is still good
    assert r.status_code == 201 and r.json["eligible"] is True, r.json
    assert tally(app) == {"used": 0, "grants": 0, "verifications": 1, "spent": 1}


def test_an_encoding_that_fails_commits_nothing(app, client, dispatched, plain_runs,
                                                monkeypatch, counter):
    """The answer is encoded inside the transaction: an encoding that fails leaves
    nothing committed (nothing may fail after COMMIT)."""
    merchant, perk = counter
    scanned = verify(client, merchant, customer(client), perk["id"])
    failures = []
    real = pipeline.PlainRoutes._encoded

    def failing_once(self, answer):
        if not failures:
            failures.append(answer)
            raise TypeError("cannot encode")
        return real(self, answer)

    monkeypatch.setattr(pipeline.PlainRoutes, "_encoded", failing_once)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    before = tally(app)
    plain_runs.clear()
    dispatched.clear()
    r = grant(client, merchant["headers"], scanned["id"], _key("encode-fails"))
    assert r.status_code == 500 and failures and plain_runs == [REDEEM] and dispatched == []
    assert tally(app) == before
    r = grant(client, merchant["headers"], scanned["id"], _key("encode-fails"))
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert tally(app)["grants"] == before["grants"] + 1


# -- a connection lost during COMMIT: never run again --------------------------------------

@pytest.mark.parametrize("plain", [True, False], ids=["plain", "flask"])
@pytest.mark.parametrize("committed", [True, False], ids=["committed", "not-committed"])
def test_a_connection_lost_during_commit_is_never_run_again(
        app, client, dispatched, plain_runs, monkeypatch, counter, committed, plain):
    """The outcome is unknown: the grant is not run again, by the plain run as by
    Flask. A grant that did commit is found under its key and answered (a replay); one
    that did not is 503 DATABASE_UNAVAILABLE, and the counter's retry with the key
    grants it."""
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", plain)
    merchant, perk = counter
    staff = merchant["headers"]
    verification = verify(client, merchant, customer(client), perk["id"])["id"]
    lost = _lost_during_commit(monkeypatch, committed=committed)
    ran = ([REDEEM], []) if plain else ([], [1])
    plain_runs.clear()
    dispatched.clear()
    r = grant(client, staff, verification, _key("lost-1"))
    assert lost == [1] and (plain_runs, dispatched) == ran  # run once
    grants = 1 if committed else 0
    assert tally(app) == {"used": grants, "grants": grants, "verifications": 1, "spent": 1}
    if committed:
        assert r.status_code == 201 and r.headers["Idempotent-Replayed"] == "true", r.json
    else:
        assert r.status_code == 503 and r.json["error_code"] == "DATABASE_UNAVAILABLE"
        assert r.headers["Retry-After"] == "5"
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-Id"])
        for name, value in SECURITY_HEADERS_API:
            assert r.headers[name] == value, name

    # the counter retries with the key: the answer that committed, or the grant now
    r = grant(client, staff, verification, _key("lost-1"))
    assert r.status_code == 201 and r.json["verification_id"] == verification
    assert r.headers.get("Idempotent-Replayed") == ("true" if committed else None)
    assert tally(app) == {"used": 1, "grants": 1, "verifications": 1, "spent": 1}


def test_a_commit_the_database_refused_is_run_again(app, client, dispatched, plain_runs,
                                                   monkeypatch, counter):
    """A COMMIT the database refused with "try again" (serialization failure; the
    connection fine) committed nothing: rolled back and run again, once granted."""
    from sqlalchemy.exc import OperationalError

    class SerializationFailure(Exception):
        sqlstate = "40001"

    merchant, perk = counter
    verification = verify(client, merchant, customer(client), perk["id"])["id"]
    real, refused = uow.RequestWork.commit, []

    def refusing_once(work, last=None):
        if not refused:
            refused.append(1)
            work.rollback()
            raise OperationalError("COMMIT", None, SerializationFailure())
        return real(work, last)

    monkeypatch.setattr(uow.RequestWork, "commit", refusing_once)
    plain_runs.clear()
    dispatched.clear()
    r = grant(client, merchant["headers"], verification, _key("refused-1"))
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers, r.json
    assert refused == [1] and plain_runs == [REDEEM] and dispatched == []
    assert tally(app) == {"used": 1, "grants": 1, "verifications": 1, "spent": 1}


def test_a_failure_after_commit_never_runs_the_grant_again(app, client, dispatched, plain_runs,
                                                           monkeypatch, counter):
    """Once COMMIT went through, the grant stands: a failure while the run closes (its
    session removed) is answered by the error handlers (500), the grant is not run
    again (not by Flask either), and the counter's retry with its key gets the
    grant's answer."""
    merchant, perk = counter
    scanned = verify(client, merchant, customer(client), perk["id"])
    failures = []
    db = app.state.db
    remove = db.remove

    def failing_once():
        remove()
        if not failures:
            failures.append(1)
            raise RuntimeError("removing the session failed")

    monkeypatch.setattr(db, "remove", failing_once)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    before = tally(app)
    plain_runs.clear()
    dispatched.clear()
    r = grant(client, merchant["headers"], scanned["id"], _key("after-commit"))
    assert r.status_code == 500 and r.json["error_code"] == "INTERNAL_ERROR"
    assert failures == [1] and plain_runs == [REDEEM] and dispatched == []
    assert tally(app)["grants"] == before["grants"] + 1
    again = grant(client, merchant["headers"], scanned["id"], _key("after-commit"))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert tally(app)["grants"] == before["grants"] + 1


# -- Idempotency-Key: one key, whichever answers --------------------------------------------

def test_an_idempotency_key_is_one_key_on_both(app, client, dispatched, plain_runs,
                                               monkeypatch, counter):
    merchant, perk = counter
    staff = merchant["headers"]
    one, two, three = (verify(client, merchant, customer(client), perk["id"])["id"]
                       for _ in range(3))

    # answered by the plain run; replayed by it and by Flask alike
    first = grant(client, staff, one, _key("counter-key-1"))
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = _as_flask(app, monkeypatch, plain_runs, dispatched,
                      lambda: grant(client, staff, one, _key("counter-key-1")))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                  lambda: grant(client, staff, two, _key("counter-key-1")))
    assert r.status_code == 422 and r.json["error_code"] == "IDEMPOTENCY_KEY_REUSED"

    # answered by Flask, replayed by the plain run
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", False)
    flask = grant(client, staff, two, _key("counter-key-2"))
    assert flask.status_code == 201
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", True)
    plain_runs.clear()
    plain_runs.clear()
    dispatched.clear()
    again = grant(client, staff, two, _key("counter-key-2"))
    assert plain_runs == [REDEEM] and dispatched == []
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == flask.json

    # a key too long: the same 422 from both; the longest allowed is granted
    r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                  lambda: grant(client, staff, three, _key("k" * 129)))
    assert r.status_code == 422 and "Idempotency-Key" in r.json["errors"]["headers"]
    plain_runs.clear()
    assert grant(client, staff, three, _key("k" * 128)).status_code == 201
    assert plain_runs == [REDEEM]
    assert tally(app) == {"used": 3, "grants": 3, "verifications": 3, "spent": 3}


@pytest.mark.parametrize("plain", [True, False], ids=["plain", "flask"])
def test_an_idempotency_key_is_the_staff_members_at_each_merchant(app, client, dispatched,
                                                                  monkeypatch, counter, plain):
    """A clerk of two merchants using one key at each: two grants, neither a replay of
    the other (the scope holds X-Merchant-Id), on the plain run and on Flask."""
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", plain)
    merchant, first_perk = counter
    owner = {"headers": merchant["headers"], "openid": merchant["openid"]}
    second = approved_merchant(app, client, name="乙家政", sector="housekeeping", owner=owner)
    as_first = {**owner["headers"], "X-Merchant-Id": str(merchant["id"])}
    as_second = {**owner["headers"], "X-Merchant-Id": str(second["id"])}
    second_perk = make_perk(client, {"headers": as_second})
    at_first = scan(client, as_first, code_for(client, customer(client)), first_perk["id"])
    at_second = scan(client, as_second, code_for(client, customer(client)), second_perk["id"])
    one = grant(client, as_first, at_first.json["id"], _key("shared-key"))
    dispatched.clear()
    two = grant(client, as_second, at_second.json["id"], _key("shared-key"))
    assert one.status_code == two.status_code == 201, two.json
    assert "Idempotent-Replayed" not in two.headers
    assert two.json["perk_id"] == second_perk["id"] != one.json["perk_id"]
    assert dispatched == ([] if plain else [1])
    again = grant(client, as_first, at_first.json["id"], _key("shared-key"))
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == one.json


# -- requests that need anything else are Flask's --------------------------------------------

def test_requests_that_need_more_are_flasks(app, client, dispatched, plain_runs, monkeypatch,
                                            counter):
    """An X-Request-Id to echo, an Origin, a query string, request logging on: Flask's,
    the plain run not started."""
    merchant, perk = counter
    staff = merchant["headers"]
    person, _ = _cached_resident(client, 615)

    def flasks(response):
        assert plain_runs == [] and dispatched == [1], response.get_data()
        plain_runs.clear()
        plain_runs.clear()
        dispatched.clear()
        return response

    plain_runs.clear()
    token = code_for(client, customer(client))
    plain_runs.clear()
    dispatched.clear()
    r = flasks(scan(client, staff, token, perk["id"], {"X-Request-Id": "counter-request-0001"}))
    assert r.status_code == 201 and r.headers["X-Request-Id"] == "counter-request-0001"
    r = flasks(_points(client, person, **{"X-Request-Id": "caller-chosen-id-1"}))
    assert r.status_code == 200 and r.headers["X-Request-Id"] == "caller-chosen-id-1"
    monkeypatch.setitem(app.config, "CORS_ORIGINS", ["https://counter.example"])
    scanned = verify(client, merchant, customer(client), perk["id"])
    plain_runs.clear()
    plain_runs.clear()
    dispatched.clear()
    r = flasks(grant(client, staff, scanned["id"], {"Origin": "https://counter.example"}))
    assert r.status_code == 201
    assert r.headers["Access-Control-Allow-Origin"] == "https://counter.example"
    r = flasks(_points(client, person, Origin="https://counter.example"))
    assert r.headers["Access-Control-Allow-Origin"] == "https://counter.example"
    token = code_for(client, customer(client))
    plain_runs.clear()
    plain_runs.clear()
    dispatched.clear()
    r = flasks(client.post(VERIFY + "?lang=zh", json={"token": token, "perk_id": perk["id"]},
                           headers=staff))
    assert r.status_code == 201
    r = flasks(client.get(POINTS + "?lang=zh", headers=person["headers"]))
    assert r.status_code == 200
    monkeypatch.setitem(app.config, "LOG_REQUESTS", True)
    r = flasks(_points(client, person))
    assert r.status_code == 200


def test_bodies_the_schema_or_parser_refuses_are_flasks(app, client, dispatched, plain_runs,
                                                        monkeypatch, counter):
    """A non-JSON body is Flask's (415); a body the parser or the schema refuses is
    left by the plain run to Flask (400, 422): the same answers as with the plain run
    off, and none of it spends the code."""
    merchant, perk = counter
    staff = merchant["headers"]
    token = code_for(client, customer(client))
    body = {"token": token, "perk_id": perk["id"]}
    plain_runs.clear()
    dispatched.clear()
    r = client.post(VERIFY, data=json.dumps(body), headers={**staff, "Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert plain_runs == [] and dispatched == [1]
    for bad in ({**body, "perk_id": str(perk["id"])}, {**body, "unknown": 1}, {"token": token},
                {**body, "token": "x" * 5000}):
        r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                      lambda bad=bad: client.post(VERIFY, json=bad, headers=staff),
                      way="handed over" if len(json.dumps(bad)) <= pipeline.MAX_BODY
                      else "not taken")
        assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR", bad
    for bad in ({"verification_id": "1"}, {"verification_id": 0}, {}):
        r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                      lambda bad=bad: client.post(REDEEM, json=bad, headers=staff),
                      way="handed over")
        assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR", bad
    r = _as_flask(app, monkeypatch, plain_runs, dispatched, lambda: client.post(
        VERIFY, data=b"{not json", headers={**staff, "Content-Type": "application/json"}),
        way="handed over")
    assert r.status_code == 400 and r.json["error_code"] == "MALFORMED_JSON"

    # none of it spent the code: the plain run takes it now (charset and all)
    plain_runs.clear()
    plain_runs.clear()
    dispatched.clear()
    r = client.post(VERIFY, data=json.dumps(body), headers={
        **staff, "Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 201 and plain_runs == [VERIFY] and dispatched == []
    assert tally(app) == {"used": 0, "grants": 0, "verifications": 1, "spent": 1}


def test_bodies_are_read_as_flask_reads_them(app, client, dispatched, plain_runs,
                                             monkeypatch, counter):
    """Strict UTF-8 (no BOM, no UTF-16), the media type as werkzeug parses it, the
    app's MAX_CONTENT_LENGTH; a lone surrogate, nesting 900 levels deep, an integer over
    4,300 digits: Flask's 400 with an error_code; a malformed chunked body is refused
    before either. The code stays unspent."""
    merchant, perk = counter
    staff = merchant["headers"]
    token = code_for(client, customer(client))
    body = json.dumps({"token": token, "perk_id": perk["id"]})
    start = f'{{"token": "{token}'
    before = tally(app)
    for raw, content_type, status in (
            (b"\xef\xbb\xbf" + body.encode(), "application/json", 400),
            (body.encode("utf-16"), "application/json", 400),
            (body.encode(), "application/json\xa0", 415),
            (f'{start}\\ud800", "perk_id": {perk["id"]}}}'.encode(), "application/json", 400),
            (f'{start}", "perk_id": {perk["id"]}, "x": {"[" * 900 + "]" * 900}}}'.encode(),
             "application/json", 400),
            (f'{start}", "perk_id": {"1" * 4301}}}'.encode(), "application/json", 400)):
        plain_runs.clear()
        plain_runs.clear()
        dispatched.clear()
        r = client.post(VERIFY, data=raw, headers={**staff, "Content-Type": content_type})
        assert r.status_code == status and r.json["error_code"], (raw[:40], r.json)
        assert dispatched == [1], raw[:40]
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 20)
    plain_runs.clear()
    plain_runs.clear()
    dispatched.clear()
    assert scan(client, staff, token, perk["id"]).status_code == 413
    assert plain_runs == []
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2 * 1024 * 1024)

    from werkzeug.serving import DechunkedInput

    plain_runs.clear()
    plain_runs.clear()
    dispatched.clear()
    r = client.post(REDEEM, headers={**staff, "Content-Type": "application/json",
                                     "Transfer-Encoding": "chunked"},
                    environ_overrides={"wsgi.input": DechunkedInput(io.BytesIO(b"zz\r\n{}\r\n")),
                                       "wsgi.input_terminated": True})
    assert (r.status_code, r.json["error_code"]) == (400, "MALFORMED_BODY")
    assert plain_runs == [] and dispatched == []  # refused before either
    assert tally(app) == before
    assert scan(client, staff, token, perk["id"]).status_code == 201


def test_a_get_with_content_length_zero_is_run_plain(app, client, dispatched, plain_runs):
    """A GET as gunicorn passes it on: CONTENT_LENGTH '0' on every request without a
    body; one with a body is Flask's."""
    person = resident(client, id_number=valid_id(seq=941))

    def get(path: str, headers: dict, **environ) -> tuple[str, bytes]:
        base = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
                "SERVER_NAME": "test", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
                "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
                "wsgi.errors": sys.stderr, "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": "0",
                **{"HTTP_" + name.upper().replace("-", "_"): value
                   for name, value in headers.items()},
                **environ}
        status = []
        body = b"".join(app(base, lambda line, headers, exc_info=None: status.append(line)))
        return status[0], body

    plain_runs.clear()
    dispatched.clear()
    status, body = get(POINTS, person["headers"])
    assert status == "200 OK" and plain_runs == [POINTS] and dispatched == [], body
    status, _ = get(POINTS, person["headers"], CONTENT_LENGTH="12")
    assert status == "200 OK" and plain_runs == [POINTS] and dispatched == [1]


# -- the rate limit: counted once --------------------------------------------------------------

def test_the_scan_limit_is_counted_once_in_flask_limiters_bucket(
        app, client, dispatched, plain_runs, limiter, counter, monkeypatch):
    """With the per-staff limit of scans on, the plain run counts a scan in the same
    bucket as Flask-Limiter and sends the headers Flask-Limiter sends, on a success and
    on a refusal; a scan over the limit is Flask's to refuse (429), counted once."""
    merchant, perk = counter
    staff = merchant["headers"]
    monkeypatch.setitem(app.config, "RATELIMIT_VERIFY", "5/minute")
    tokens = [code_for(client, customer(client)) for _ in range(4)]
    answers = {}
    for plain in (True, False):  # a success, then a refusal, each way
        monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", plain)
        plain_runs.clear()
        dispatched.clear()
        answers[plain] = (scan(client, staff, tokens[int(not plain)], perk["id"]),
                          scan(client, staff, tokens[0], perk["id"]))
        assert (len(plain_runs), dispatched) == ((2, []) if plain else (0, [1, 1]))
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", True)
    (ran, ran_refused), (flask, flask_refused) = answers[True], answers[False]
    assert ran.status_code == flask.status_code == 201
    assert ran_refused.json["error_code"] == flask_refused.json["error_code"] == "TOKEN_USED"
    # one bucket: 5 scans allowed, counted in the order sent
    assert [r.headers["X-RateLimit-Remaining"] for r in (ran, ran_refused, flask,
                                                         flask_refused)] == ["4", "3", "2", "1"]
    for r in (ran, ran_refused, flask, flask_refused):
        assert r.headers["X-RateLimit-Limit"] == "5"
        assert int(r.headers["X-RateLimit-Reset"]) > 0
    assert _header_names(ran) == _header_names(flask)
    assert "Retry-After" not in ran.headers  # a success asks nobody to wait
    assert _header_names(ran_refused) == _header_names(flask_refused)
    assert 0 < int(ran_refused.headers["Retry-After"]) <= 61

    r = scan(client, staff, tokens[2], perk["id"])  # the fifth scan
    assert r.status_code == 201 and r.headers["X-RateLimit-Remaining"] == "0"
    plain_runs.clear()
    dispatched.clear()
    r = scan(client, staff, tokens[3], perk["id"])
    assert r.status_code == 429 and r.json["error_code"] == "RATE_LIMITED"
    assert plain_runs == [VERIFY] and dispatched == [1]  # over the limit: handed over
    assert 0 < int(r.headers["Retry-After"]) <= 61
    assert tally(app)["spent"] == 3  # the code refused at 429 is still unspent


# -- the caller check follows every change at once --------------------------------------------

def test_the_merchant_roles_own_check_runs(app, client, dispatched, plain_runs, monkeypatch,
                                           counter):
    """The plain run checks the caller with the role's check the app has (a new rule
    for staff, here) — the same check Flask runs."""
    from points.errors import Forbidden

    merchant, perk = counter
    calls = []

    def stricter(principal, environ):
        calls.append(principal.id)
        raise Forbidden("counter closed for the night")

    token = code_for(client, customer(client))
    monkeypatch.setitem(app.state.role_checks, "merchant", stricter)
    r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                  lambda: scan(client, merchant["headers"], token, perk["id"]))
    assert r.status_code == 403 and r.json["message"] == "counter closed for the night"
    assert len(calls) == 2  # once each


def test_staff_of_several_merchants_name_one(app, client, dispatched, plain_runs, monkeypatch,
                                             counter):
    merchant, _ = counter
    owner = {"headers": merchant["headers"], "openid": merchant["openid"]}
    second = approved_merchant(app, client, name="乙家政", sector="housekeeping", owner=owner)
    as_second = {**owner["headers"], "X-Merchant-Id": str(second["id"])}
    perk = make_perk(client, {"headers": as_second})  # caches the seats again
    token = code_for(client, customer(client))

    for merchant_id, status, error_code in ((None, 422, "MERCHANT_REQUIRED"),
                                            ("abc", 422, None), ("999999", 403, "FORBIDDEN")):
        headers = dict(owner["headers"], **({"X-Merchant-Id": merchant_id} if merchant_id
                                            else {}))
        r = _as_flask(app, monkeypatch, plain_runs, dispatched,
                      lambda h=headers: scan(client, h, token, perk["id"]))
        assert r.status_code == status, r.json
        assert error_code is None or r.json["error_code"] == error_code
    plain_runs.clear()
    plain_runs.clear()
    dispatched.clear()
    r = scan(client, as_second, token, perk["id"])
    assert r.status_code == 201
    r = grant(client, as_second, r.json["id"])
    assert r.status_code == 201 and plain_runs == [VERIFY, REDEEM] and dispatched == []
    assert tally(app) == {"used": 1, "grants": 1, "verifications": 1, "spent": 1}


def test_a_removed_clerk_is_refused_at_once(app, client, dispatched, plain_runs, counter):
    merchant, perk = counter
    clerk = auth(dev_login(client)["access_token"])
    code = client.post("/v1/merchant/invitations", headers=merchant["headers"]).json["code"]
    assert client.post(f"/v1/merchants/invitations/{code}/accept",
                       headers=clerk).status_code == 200
    assert client.get("/v1/merchant", headers=clerk).status_code == 200  # seats cached
    token = code_for(client, customer(client))
    plain_runs.clear()
    dispatched.clear()
    verified = scan(client, clerk, token, perk["id"])
    assert verified.status_code == 201 and dispatched == []

    clerk_id = client.get("/v1/me", headers=clerk).json["id"]
    assert client.delete(f"/v1/merchant/staff/{clerk_id}",
                         headers=merchant["headers"]).status_code == 204
    token = code_for(client, customer(client))
    plain_runs.clear()
    plain_runs.clear()
    dispatched.clear()
    r = scan(client, clerk, token, perk["id"])
    assert r.status_code == 403 and r.json["error_code"] == "FORBIDDEN"
    r = grant(client, clerk, verified.json["id"])
    assert r.status_code == 403 and r.json["error_code"] == "FORBIDDEN"
    assert plain_runs == [VERIFY, REDEEM] and dispatched == []
    assert tally(app) == {"used": 0, "grants": 0, "verifications": 1, "spent": 1}
    # the refused scan spent nothing: the owner can still use the code
    assert scan(client, merchant["headers"], token, perk["id"]).status_code == 201


def test_a_suspended_merchant_is_refused_at_once(app, client, dispatched, plain_runs, counter):
    merchant, perk = counter
    staff = merchant["headers"]
    token, later = (code_for(client, customer(client)) for _ in range(2))
    plain_runs.clear()
    dispatched.clear()
    verified = scan(client, staff, token, perk["id"])
    assert verified.status_code == 201 and dispatched == []

    r = client.post(f"/v1/admin/merchants/{merchant['id']}/suspend", headers=merchant["admin"],
                    json={"reason": "投诉核实"})
    assert r.status_code == 200, r.json
    plain_runs.clear()
    plain_runs.clear()
    dispatched.clear()
    r = grant(client, staff, verified.json["id"])
    assert r.status_code == 403 and r.json["error_code"] == "FORBIDDEN"
    r = scan(client, staff, later, perk["id"])
    assert r.status_code == 403 and r.json["error_code"] == "FORBIDDEN"
    assert plain_runs == [REDEEM, VERIFY] and dispatched == []
    assert tally(app) == {"used": 0, "grants": 0, "verifications": 1, "spent": 1}


def test_a_revoked_token_is_refused(app, client, dispatched, plain_runs, monkeypatch):
    person, _ = _cached_resident(client, 616)
    assert client.post("/v1/auth/logout", headers=person["headers"]).status_code == 204
    r = _as_flask(app, monkeypatch, plain_runs, dispatched, lambda: _points(client, person),
                  switch="POINTS_FAST_PATH")
    assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
    assert r.json["message"] == "访问令牌已被撤销，请重新登录"


@pytest.mark.parametrize("ended_by", ["refresh_reuse", "logout"])
def test_a_session_ended_stops_its_access_tokens_at_once(app, client, dispatched, plain_runs,
                                                         monkeypatch, ended_by):
    """The family's access tokens stop at once on the cached read too (the `fam:` flag
    is read in the same Redis round trip), also a token of the family issued later."""
    person, body = _cached_resident(client, 617)
    refreshed = client.post("/v1/auth/refresh",
                            json={"refresh_token": person["refresh_token"]}).json
    later = {"headers": auth(refreshed["access_token"])}
    for holder in (person, later):
        _points(client, holder)
        plain_runs.clear()
        dispatched.clear()
        assert _points(client, holder).json == body and dispatched == []
    if ended_by == "logout":
        assert client.post("/v1/auth/logout", headers=later["headers"]).status_code == 204
    else:
        r = client.post("/v1/auth/refresh", json={"refresh_token": person["refresh_token"]})
        assert r.status_code == 401
    for holder in (person, later):
        r = _as_flask(app, monkeypatch, plain_runs, dispatched, lambda h=holder: _points(client, h),
                      switch="POINTS_FAST_PATH")
        assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"


def test_a_closed_account_gets_nothing_from_the_cache(app, client, dispatched, plain_runs,
                                                      monkeypatch):
    person, _ = _cached_resident(client, 618)
    assert client.delete("/v1/me", headers=person["headers"]).status_code == 204
    r = _as_flask(app, monkeypatch, plain_runs, dispatched, lambda: _points(client, person),
                  switch="POINTS_FAST_PATH")
    assert r.status_code == 401


# -- Redis ---------------------------------------------------------------------------------------

def test_redis_unreachable_is_answered_from_the_database(app, client, dispatched, plain_runs,
                                                         monkeypatch):
    import redis

    person, expected = _cached_resident(client, 619)
    state = app.state

    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("redis is down")

    monkeypatch.setattr(type(state.redis), "execute_command", down)
    monkeypatch.setattr(redis.Connection, "send_command", down)  # the prefetch's own
    plain_runs.clear()
    dispatched.clear()
    r = _points(client, person)
    assert r.status_code == 200 and r.json["points"] == expected["points"]
    assert plain_runs == [POINTS] and dispatched == [], dispatched


def test_a_server_that_lost_its_scripts_is_taught_again(app, client, dispatched, plain_runs):
    """The prefetch runs its script by digest: a Redis restarted or flushed (SCRIPT
    FLUSH) gets the script again, and the read stays the plain run's."""
    person, expected = _cached_resident(client, 620)
    app.state.redis.script_flush()
    plain_runs.clear()
    plain_runs.clear()
    dispatched.clear()
    for _ in range(2):
        r = _points(client, person)
        assert r.status_code == 200 and r.json == expected
    assert plain_runs == [POINTS, POINTS] and dispatched == []


# -- the hooks it stands in for ----------------------------------------------------------------

def test_an_app_with_a_hook_the_plain_run_does_not_know_refuses_to_start(app, monkeypatch):
    pipeline.check_hooks(app)  # the app as made: every hook known

    def audit():
        return None

    monkeypatch.setitem(app.before_request_funcs, None,
                        [*app.before_request_funcs[None], audit])
    with pytest.raises(RuntimeError, match="audit"):
        pipeline.check_hooks(app)


def test_create_app_checks_the_hooks(app, monkeypatch):
    """create_app refuses an app one of whose hooks the plain run was not told of."""
    from api import create_app

    known = copy.deepcopy(pipeline.KNOWN_HOOKS)
    del known["after_request"]["create_app.<locals>._security_headers"]
    monkeypatch.setattr(pipeline, "KNOWN_HOOKS", known)
    with pytest.raises(RuntimeError, match="_security_headers"):
        create_app({"TESTING": True})
