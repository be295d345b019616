"""WeChat notifications through the outbox, against a local WeChat stub: one message
per decision, retries with back-off, 43101 skipped, no message lost or sent twice
when a process dies between commit and send, one shared access token."""
from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
from sqlalchemy import select

from points.infra.db import today, utcnow
from points.models.workflows import OutboxMessage
from tests.builders.departments import department, record_for
from tests.builders.residents import apply, person, valid_id

SEND = "/cgi-bin/message/subscribe/send"
TOKEN = "/cgi-bin/stable_token"


@pytest.fixture
def wechat(app, httpserver):
    """Point the sender at a local stub server (it reads the config on every run)."""
    saved = app.config["WECHAT_API_BASE"]
    app.config["WECHAT_API_BASE"] = httpserver.url_for("").rstrip("/")
    yield httpserver
    app.config["WECHAT_API_BASE"] = saved


@pytest.fixture
def jobs(monkeypatch):
    """Catch the delivery jobs enqueued after commit instead of running them, so a
    test decides when the 'worker' runs them (or drops them, as a crash would)."""
    caught: list[tuple] = []
    monkeypatch.setattr("api.tasks.enqueue",
                        lambda func, *args, **kwargs: caught.append((func, args)))
    return caught


def run(app, caught: list[tuple]) -> None:
    with app.app_context():
        while caught:
            func, args = caught.pop(0)
            func(*args)


def deliver(app, **kwargs) -> dict:
    """One run of the deliverer, as `points-notify` or a job does it."""
    from api.notify_cli import build_notifier
    from points.infra import outbox

    with app.app_context():
        return outbox.deliver_pending(app.state.db.new_session,
                                      build_notifier(), **kwargs)


def stub_token(server, token: str = "TOKEN-1", expires_in: int = 7200) -> None:
    server.expect_request(TOKEN, method="POST").respond_with_json(
        {"access_token": token, "expires_in": expires_in})


def sends(server) -> list[dict]:
    return [json.loads(req.get_data()) for req, _ in server.log if req.path == SEND]


def token_calls(server) -> list[dict]:
    return [json.loads(req.get_data()) for req, _ in server.log if req.path == TOKEN]


DECISIONS = ("repair_decided", "objection_decided", "commitment_outcome", "identity_moved")


_people = itertools.count(1)


def messages(session, events=DECISIONS) -> list[OutboxMessage]:
    """The queued messages of these events (the decisions', by default; tests/api/
    test_notifications.py covers the notices of records, levels and checks)."""
    session.expire_all()
    return list(session.execute(select(OutboxMessage).where(OutboxMessage.event.in_(events))
                                .order_by(OutboxMessage.id)).scalars())


def objection_decided(app, client, upheld: bool = False, code: str = "market") -> dict:
    market = department(app, client, code)
    # The record is stored before the person binds an account: its notice waits in the
    # app for the binding and sends nothing to WeChat, so the decision's message is the
    # only one these tests of the outbox see.
    seq = 700 + next(_people)
    zhang = {"id_number": valid_id(seq=seq), "name": "张三"}
    record_id = record_for(client, market, zhang, decided_on=today().isoformat())
    zhang = person(client, seq=seq)
    r = client.post("/v1/me/objections", headers=zhang["headers"],
                    json={"record_id": record_id, "reason": "不是本人"})
    assert r.status_code == 201, r.json
    r = client.post(f"/v1/dept/objections/{r.json['id']}/decision", headers=market,
                    json={"upheld": upheld, "note": "材料齐全，处罚无误"})
    assert r.status_code == 200, r.json
    return {"dept": market, "person": zhang, "record_id": record_id, "objection": r.json}


def test_one_message_per_decision(app, client, session, wechat, jobs):
    stub_token(wechat)
    wechat.expect_request(SEND, method="POST").respond_with_json({"errcode": 0, "errmsg": "ok"})
    done = objection_decided(app, client)
    assert len(jobs) == 1  # scheduled after the commit
    # A decision refused (decided already) rolls back and queues nothing.
    r = client.post(f"/v1/dept/objections/{done['objection']['id']}/decision",
                    headers=done["dept"], json={"upheld": True})
    assert r.status_code == 409 and len(jobs) == 1

    run(app, jobs)
    sent = sends(wechat)
    assert len(sent) == 1
    from points.models import User

    assert sent[0]["touser"] == session.get(User, done["person"]["user_id"]).openid
    assert sent[0]["template_id"] == "objection-decided-template"
    assert sent[0]["data"]["phrase2"] == {"value": "未采纳"}
    assert sent[0]["data"]["thing4"] == {"value": "材料齐全，处罚无误"}
    assert sent[0]["page"] == f"pages/objections/detail?id={done['objection']['id']}"
    request, _ = next((req, resp) for req, resp in wechat.log if req.path == SEND)
    assert request.args["access_token"] == "TOKEN-1"
    assert token_calls(wechat)[0] == {"grant_type": "client_credential",
                                      "appid": app.config["WECHAT_APPID"],
                                      "secret": app.config["WECHAT_SECRET"],
                                      "force_refresh": False}
    [message] = messages(session)
    assert (message.status, message.attempts, message.sent_at is not None) == ("sent", 1, True)
    # Running the worker again (or the sweep) sends nothing more.
    assert deliver(app)["sent"] == 0 and len(sends(wechat)) == 1


def test_every_kind_of_decision_queues_its_message(app, client, session, jobs):
    market = department(app, client, "market")
    zhang = person(client)
    repair_id = apply(client, zhang, record_for(client, market, zhang, "admin.penalty.minor",
                                                decided_on=today().isoformat())).json["id"]
    client.post(f"/v1/dept/repairs/{repair_id}/decision", headers=market,
                json={"approve": True})
    made = client.post("/v1/me/commitments", headers=zhang["headers"], json={
        "kind": "voluntary", "content": "按期履约", "department": "market", "public": False}).json
    client.post(f"/v1/dept/commitments/{made['id']}/outcome", headers=market,
                json={"outcome": "fulfilled"})
    record_id = record_for(client, market, zhang, decided_on=today().isoformat())
    objection = client.post("/v1/me/objections", headers=zhang["headers"],
                            json={"record_id": record_id, "reason": "r"}).json
    client.post(f"/v1/dept/objections/{objection['id']}/decision", headers=market,
                json={"upheld": True})
    queued = messages(session)
    assert [(m.event, m.dedupe_key, m.user_id, m.data["phrase2"]) for m in queued] == [
        ("repair_decided", f"repair:{repair_id}:decided", zhang["user_id"], "已通过"),
        ("commitment_outcome", f"commitment:{made['id']}:outcome", zhang["user_id"], "已履约"),
        ("objection_decided", f"objection:{objection['id']}:decided", zhang["user_id"],
         "异议成立"),
    ]
    everything = messages(session, ("record_negative", "record_changed", "level_changed",
                                    *DECISIONS))
    assert len(jobs) == len(everything) > 3  # each message scheduled after its commit


def test_retry_with_back_off_after_a_wechat_error(app, client, session, wechat, jobs):
    stub_token(wechat)
    wechat.expect_oneshot_request(SEND, method="POST").respond_with_json(
        {"errcode": -1, "errmsg": "system busy"})
    wechat.expect_request(SEND, method="POST").respond_with_json({"errcode": 0})
    objection_decided(app, client)
    run(app, jobs)
    [message] = messages(session)
    assert (message.status, message.attempts) == ("pending", 1)
    assert "busy" in message.last_error
    wait = message.next_attempt_at - utcnow()
    assert dt.timedelta(seconds=30) < wait <= dt.timedelta(minutes=1)

    assert deliver(app)["sent"] == 0  # not due yet: nothing is sent early
    assert len(sends(wechat)) == 1
    later = message.next_attempt_at + dt.timedelta(seconds=1)
    assert deliver(app, now=lambda: later)["sent"] == 1
    [message] = messages(session)
    assert (message.status, message.attempts) == ("sent", 2)
    assert len(sends(wechat)) == 2


def test_wechat_unreachable_is_retried_then_given_up(app, client, session, jobs):
    from points.infra import outbox

    objection_decided(app, client)  # WECHAT_API_BASE points at a closed port
    run(app, jobs)
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        [message] = messages(session)
        assert message.status == "pending"
        deliver(app, now=lambda due=message.next_attempt_at: due)
    [message] = messages(session)
    assert (message.status, message.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    assert "无法连接微信" in message.last_error  # WeChat is not reachable


def test_not_subscribed_is_skipped_and_not_retried(app, client, session, wechat, jobs):
    stub_token(wechat)
    wechat.expect_request(SEND, method="POST").respond_with_json(
        {"errcode": 43101, "errmsg": "user refuse to accept the msg"})
    objection_decided(app, client)
    run(app, jobs)
    [message] = messages(session)
    assert message.status == "skipped" and "43101" in message.last_error
    deliver(app, now=lambda: utcnow() + dt.timedelta(days=1))
    assert len(sends(wechat)) == 1


def test_closed_account_is_skipped_without_calling_wechat(app, client, session, wechat, jobs):
    from points.models import User

    stub_token(wechat)
    wechat.expect_request(SEND, method="POST").respond_with_json({"errcode": 0})
    done = objection_decided(app, client)
    user = session.get(User, done["person"]["user_id"])
    user.openid, user.closed_at = None, utcnow()
    session.commit()
    run(app, jobs)
    assert [m.status for m in messages(session)] == ["skipped"]
    assert sends(wechat) == []


def test_no_duplicate_after_a_crash_between_commit_and_send(app, client, session, wechat,
                                                            jobs):
    stub_token(wechat)
    wechat.expect_request(SEND, method="POST").respond_with_json({"errcode": 0})
    objection_decided(app, client)
    jobs.clear()  # the process died: the enqueued job is gone
    assert [m.status for m in messages(session)] == ["pending"]
    first, second = deliver(app), deliver(app)  # the sweep, run twice (e.g. two crons)
    assert (first["sent"], second["sent"]) == (1, 0)
    assert len(sends(wechat)) == 1


def test_a_claimed_message_is_not_sent_by_a_second_sender(app, client, session, wechat, jobs):
    from points.infra import outbox

    stub_token(wechat)
    wechat.expect_request(SEND, method="POST").respond_with_json({"errcode": 0})
    objection_decided(app, client)
    [message] = messages(session)
    factory = app.state.db.new_session
    claim = outbox._claim(factory, message.id, utcnow())  # sender A claims, then dies
    assert claim is not None
    assert outbox._claim(factory, message.id, utcnow()) is None
    assert deliver(app)["sent"] == 0  # sender B: nothing due while A's lease runs
    after_lease = utcnow() + outbox.LEASE + dt.timedelta(seconds=1)
    assert deliver(app, now=lambda: after_lease)["sent"] == 1
    assert len(sends(wechat)) == 1
    # A's late result cannot overwrite B's: its claim token is gone.
    from points.infra.notify import SendResult

    outbox._finish(factory, claim[1], claim[0], SendResult("retry", "late"), utcnow())
    assert [m.status for m in messages(session)] == ["sent"]


def test_access_token_is_shared_and_refreshed_when_refused(app, client, session, wechat, jobs):
    from points.infra.notify import TOKEN_KEY

    stub_token(wechat, "TOKEN-1")
    wechat.expect_oneshot_request(SEND, method="POST").respond_with_json({"errcode": 0})
    wechat.expect_oneshot_request(SEND, method="POST").respond_with_json(
        {"errcode": 40001, "errmsg": "invalid credential"})
    wechat.expect_request(SEND, method="POST").respond_with_json({"errcode": 0})
    objection_decided(app, client)
    run(app, jobs)
    redis = app.state.redis
    assert redis.get(TOKEN_KEY) == b"TOKEN-1"
    assert 6800 <= redis.ttl(TOKEN_KEY) <= 6900  # refreshed before WeChat's expiry

    # The token WeChat refuses is replaced once, with a forced refresh, then resent.
    objection_decided(app, client, code="court")
    run(app, jobs)
    assert [m.status for m in messages(session)] == ["sent", "sent"]
    assert [c["force_refresh"] for c in token_calls(wechat)] == [False, True]
    assert len(sends(wechat)) == 3


def test_points_notify_command_sends_what_is_due(app, client, session, wechat, jobs):
    from api.notify_cli import register_notify_cli

    if "points-notify" not in app.cli.commands:
        register_notify_cli(app)
    stub_token(wechat)
    wechat.expect_request(SEND, method="POST").respond_with_json({"errcode": 0})
    objection_decided(app, client)
    jobs.clear()
    result = app.test_cli_runner().invoke(args=["points-notify"])
    assert result.exit_code == 0, result.output
    assert "sent 1" in result.output
    assert [m.status for m in messages(session)] == ["sent"]


def test_two_senders_at_once_send_each_message_once(app, client, session, wechat, jobs):
    import threading

    stub_token(wechat)
    wechat.expect_request(SEND, method="POST").respond_with_json({"errcode": 0})
    for code in ("market", "tax", "court"):
        objection_decided(app, client, code=code)
    jobs.clear()
    start = threading.Barrier(2)
    results: list[dict] = []

    def sender() -> None:
        start.wait()
        results.append(deliver(app))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["sent"] for r in results) == 3
    assert len(sends(wechat)) == 3
    assert len({s["touser"] for s in sends(wechat)}) == 3  # each person once
    assert [m.status for m in messages(session)] == ["sent"] * 3


def test_the_enqueued_job_sends_the_message(app, client, session, wechat):
    """The real path: enqueue after commit; inline with the in-process Redis, by an
    RQ worker with a real one."""
    import rq

    stub_token(wechat)
    wechat.expect_request(SEND, method="POST").respond_with_json({"errcode": 0})
    objection_decided(app, client)
    if not app.config["REDIS_URL"].startswith("memory://"):
        redis = app.state.redis
        with app.app_context():
            worker = rq.SimpleWorker([rq.Queue("notifications", connection=redis)],
                                     connection=redis)
            worker.work(burst=True)
    assert [m.status for m in messages(session)] == ["sent"]
    assert len(sends(wechat)) == 1
