"""A verified binding moves an earlier binding of the same ID number; bindings made
before face verification see no credit data until the person verifies; and the hidden
takeover (binding a stranger's number) is refused end to end."""
from __future__ import annotations

import json

from sqlalchemy import select, text

from incentives.models import VerificationToken
from points.models import AccessLogEntry, AuditEntry, User
from points.models.workflows import OutboxMessage
from tests.builders.departments import department, push
from tests.builders.residents import dev_login, resident, valid_id

NAME = "赵六"
CREDIT_READS = ("/v1/me/points", "/v1/me/points/history", "/v1/me/records")


def person(client, stub, openid: str, number: str | None, name: str = NAME) -> dict:
    """A signed-in resident (whose face, for the stub, is that of `number`'s person)
    with both consents."""
    if number is not None:
        stub.person("dev:" + openid, number, name)
    return resident(client, id_number=False, openid=openid)["headers"]


def verify(client, headers, number: str, name: str = NAME):
    """Start a face verification and bind with it; the binding's response."""
    r = client.post("/v1/me/identity/verifications", headers=headers,
                    json={"name": name, "id_number": number})
    assert r.status_code == 201, r.json
    return client.put("/v1/me/identity", headers=headers, json={"verify_id": r.json["verify_id"]})


def test_verified_binding_moves_the_earlier_one(app, client, face_wechat, session, dispatched):
    number = valid_id(seq=301)
    push(client, department(app, client), {"type": "admin.penalty.general", "id_number": number,
                                           "name": NAME, "decided_on": "2026-06-01"})
    old = person(client, face_wechat, "move-old", number)
    assert verify(client, old, number).status_code == 200
    r = client.post("/v1/me/verification-tokens", headers=old)
    assert r.status_code == 201, r.json
    for _ in range(2):  # the second read is the cached one
        assert client.get("/v1/me/points", headers=old).status_code == 200
    dispatched.clear()
    assert client.get("/v1/me/points", headers=old).status_code == 200 and dispatched == []

    new = person(client, face_wechat, "move-new", number)  # the same person, a new phone
    r = verify(client, new, number)
    assert r.status_code == 200, r.json
    assert client.get("/v1/me/points", headers=new).json["points"] < 1000

    # The earlier account loses the credit file at once: the plain run of the read
    # refuses it (no Flask dispatch), the same access token still signed in.
    dispatched.clear()
    r = client.get("/v1/me/points", headers=old)
    assert r.status_code == 409 and r.json["error_code"] == "IDENTITY_REQUIRED"
    assert dispatched == []
    for path in CREDIT_READS:
        assert client.get(path, headers=old).json["error_code"] == "IDENTITY_REQUIRED"
    export = client.get("/v1/me/export", headers=old).json
    assert export["records"] == [] and export["identity"] is None
    assert client.get("/v1/me/access-log", headers=old).json == []
    me = client.get("/v1/me", headers=old).json
    assert me["identity_bound"] is False and me["identity_verified"] is False
    session.expire_all()
    old_id = session.execute(select(User.id).where(User.openid == "dev:move-old")).scalar_one()
    assert session.execute(select(VerificationToken).where(
        VerificationToken.user_id == old_id)).first() is None  # its unused codes are void

    # Notified, audited, and in the person's access log.
    message = session.execute(select(OutboxMessage).where(
        OutboxMessage.event == "identity_moved")).scalar_one()
    assert message.user_id == old_id
    moved = session.execute(select(AuditEntry).where(
        AuditEntry.action == "identity.moved")).scalar_one()
    assert moved.before["user_id"] == old_id and moved.before["verified"] is True
    assert moved.after["out_seq_no"]
    log = client.get("/v1/me/access-log", headers=new).json
    assert [e["purpose"] for e in log] == ["identity_moved"]
    assert number not in json.dumps(log)


def test_hidden_takeover_is_refused(app, client, face_wechat, session):
    """A stranger types someone's ID number: without that person's face nothing binds,
    with someone else's verify_id nothing binds, and the records stay out of reach."""
    victim_no, stranger_no = valid_id(seq=302), valid_id(seq=303)
    push(client, department(app, client), {"type": "admin.penalty.general",
                                           "id_number": victim_no, "name": NAME,
                                           "decided_on": "2026-06-01"})
    victim = person(client, face_wechat, "victim", victim_no)
    stranger = person(client, face_wechat, "stranger", stranger_no, name="钱八")

    # Typing name and number binds nothing without face verification.
    r = client.put("/v1/me/identity", headers=stranger,
                   json={"name": NAME, "id_number": victim_no})
    assert r.status_code == 422 and r.json["error_code"] == "FACE_VERIFICATION_REQUIRED"
    # Face verification as the victim fails: the stranger's face is not theirs.
    r = verify(client, stranger, victim_no)
    assert r.status_code == 422 and r.json["error_code"] == "FACE_VERIFICATION_FAILED"
    # The victim's own verify_id, stolen, is not the stranger's to use.
    r = client.post("/v1/me/identity/verifications", headers=victim,
                    json={"name": NAME, "id_number": victim_no})
    stolen = r.json["verify_id"]
    r = client.put("/v1/me/identity", headers=stranger, json={"verify_id": stolen})
    assert r.status_code == 404 and r.json["error_code"] == "FACE_VERIFICATION_NOT_FOUND"

    for path in (*CREDIT_READS, "/v1/me/identity"):
        r = client.get(path, headers=stranger)
        assert r.status_code == 409 and r.json["error_code"] == "IDENTITY_REQUIRED", path
    assert client.get("/v1/me/export", headers=stranger).json["records"] == []
    # The victim binds (the real face) and sees the record; nothing was moved.
    assert client.put("/v1/me/identity", headers=victim,
                      json={"verify_id": stolen}).status_code == 200
    assert [r["type"] for r in client.get("/v1/me/records", headers=victim).json] == [
        "admin.penalty.general"]
    session.expire_all()
    assert session.execute(select(AuditEntry).where(
        AuditEntry.action == "identity.moved")).first() is None
    assert session.execute(select(AccessLogEntry)).first() is None


def test_bindings_made_before_face_verification_are_unverified(app, client, face_wechat,
                                                              session, dispatched):
    """The migration marks every earlier binding unverified (and clears the typed name
    it copied onto the subject); such an account sees no credit data, even from a
    cache filled before the upgrade, until the person verifies."""
    from alembic import command

    from api.cli import alembic_config

    number = valid_id(seq=304)
    push(client, department(app, client), {"type": "admin.penalty.general",
                                           "id_number": number, "name": NAME,
                                           "decided_on": "2026-06-01"})
    headers = person(client, face_wechat, "legacy", number)
    user_id = session.execute(select(User.id).where(User.openid == "dev:legacy")).scalar_one()
    session.commit()
    url = app.config["DATABASE_URL"]
    command.downgrade(alembic_config(url), "2026_11_30_no_health_data")
    engine = app.state.db.engine
    with engine.begin() as conn:  # bound the old way: the typed name over the subject's
        subject_id, name_enc = conn.execute(text("SELECT id, name_enc FROM subjects")).one()
        conn.execute(text("UPDATE subjects SET name_enc = 'typed' WHERE id = :s"),
                     {"s": subject_id})
        conn.execute(text("UPDATE users SET subject_id = :s, name_enc = 'typed' WHERE id = :u"),
                     {"s": subject_id, "u": user_id})
    command.upgrade(alembic_config(url), "head")
    with engine.begin() as conn:
        assert conn.execute(text("SELECT subject_id, unverified_subject_id FROM users "
                                 "WHERE id = :u"), {"u": user_id}).one() == (None, subject_id)
        assert conn.execute(text("SELECT name_enc FROM subjects")).scalar_one() is None
        conn.execute(text("UPDATE users SET name_enc = :n WHERE id = :u"),
                     {"n": name_enc, "u": user_id})  # a readable name for the masked view
    # A gate entry cached before the upgrade (no format) names the subject.
    redis = app.state.redis
    redis.set(f"gate:user:{user_id}", json.dumps({
        "version": 0, "subject_id": subject_id, "credit_points": True,
        "adult_from": "2008-01-01"}))

    me = client.get("/v1/me", headers=headers).json
    assert me["identity_bound"] is True and me["identity_verified"] is False
    assert me["identity"]["verified_at"] is None
    login = dev_login(client, "legacy")["user"]
    assert login["identity_bound"] is True and login["identity_verified"] is False
    dispatched.clear()
    for path in CREDIT_READS:
        r = client.get(path, headers=headers)
        assert r.status_code == 409 and r.json["error_code"] == "IDENTITY_REQUIRED", path
    # The points read's plain run refuses it too; the other two reads are Flask's.
    assert len(dispatched) == len(CREDIT_READS) - 1
    assert client.get("/v1/me/export", headers=headers).json["records"] == []
    assert client.get("/v1/me/access-log", headers=headers).json == []

    assert verify(client, headers, number).status_code == 200
    me = client.get("/v1/me", headers=headers).json
    assert me["identity_verified"] is True
    assert client.get("/v1/me/points", headers=headers).json["points"] < 1000
    moved = session.execute(select(AuditEntry).where(AuditEntry.action == "identity.moved"))
    assert moved.first() is None  # its own unverified binding is simply replaced
