"""The subject's name is never the resident's to set: departments' records and credit
checks compare with the verified name, or else the name departments reported, after
normalisation (points.people.identity.same_name)."""
from __future__ import annotations

import itertools

import pytest

from points.people.identity import normalise_name, same_name
from tests.builders.departments import department, push
from tests.builders.residents import auth, dev_login, valid_id

_refs = itertools.count(1)


@pytest.mark.parametrize(("a", "b"), [
    ("李四", "李 四"), ("李四", " 李四\u3000"), ("李四", "李\u200b四"), ("李四", "李\t四\n"),
    ("JOHN SMITH", "ｊｏｈｎ　ｓｍｉｔｈ"),
    ("阿依古丽·买买提", "阿依古丽・买买提"), ("阿依古丽·买买提", "阿依古丽•买买提"),
    ("阿依古丽·买买提", "阿依古丽‧买买提"), ("阿依古丽·买买提", "阿依古丽∙买买提"),
    ("阿依古丽·买买提", "阿依古丽⋅买买提"), ("阿依古丽·买买提", "阿依古丽･买买提"),
    ("阿依古丽·买买提", "阿依古丽.买买提"), ("阿依古丽·买买提", "阿依古丽 · 买买提"),
])
def test_the_same_name_written_differently(a, b):
    assert same_name(a, b) and normalise_name(a) == normalise_name(b)


@pytest.mark.parametrize(("a", "b"), [("李四", "李思"), ("李四", "李四四"), ("阿依古丽·买买提", "阿依古丽买买提"),
                                      ("李四", None), (None, None)])
def test_different_names(a, b):
    assert not same_name(a, b)


def _defaulter(client, dept, number: str, name: str) -> dict:
    return push(client, dept, {"source_ref": f"court-{next(_refs)}", "type": "court.defaulter",
                               "id_number": number, "name": name, "decided_on": "2026-05-01"})


def _attempt(client, stub, headers, number: str, name: str) -> int:
    """A face verification as `name`, then the binding; the binding's status."""
    r = client.post("/v1/me/identity/verifications", headers=headers,
                    json={"name": name, "id_number": number})
    if r.status_code != 201:
        return r.status_code
    return client.put("/v1/me/identity", headers=headers,
                      json={"verify_id": r.json["verify_id"]}).status_code


@pytest.mark.parametrize(("real", "attempts"), [
    ("李四", ["李 四"]),                                  # binding with spaces
    ("JOHN SMITH", ["ｊｏｈｎ　ｓｍｉｔｈ"]),                 # fullwidth letters
    ("李四", ["王五"]),                                    # another name
    ("阿依古丽·买买提", ["阿依古丽•买买提"]),                    # another middle dot
    ("李四", ["李四", "李　四", "王五", "李 四 "]),             # re-binding, again and again
])
def test_a_defaulter_record_counts_whatever_name_the_resident_binds(
        app, client, face_wechat, real, attempts):
    number = valid_id(seq=401)
    dept = department(app, client, "court")
    _defaulter(client, dept, number, real)  # the department's name comes first
    headers = auth(dev_login(client, "renamer")["access_token"])
    face_wechat.person("dev:renamer", number, real)
    client.put("/v1/me/consents/credit_points", headers=headers,
               json={"granted": True, "policy_version": "2026-01"})
    # Typing a name binds nothing outside development.
    r = client.put("/v1/me/identity", headers=headers, json={"name": "王五", "id_number": number})
    assert r.json["error_code"] == "FACE_VERIFICATION_REQUIRED"
    for name in attempts:
        status = _attempt(client, face_wechat, headers, number, name)
        assert status == (422 if name == "王五" else 200), name
        # Each new record, pushed with the name the department knows, counts.
        assert _defaulter(client, dept, number, real)["rejected"] == []
    assert _attempt(client, face_wechat, headers, number, real) == 200
    records = client.get("/v1/me/records", headers=headers).json
    assert len(records) == 1 + len(attempts)
    assert all(r["type"] == "court.defaulter" and r["status"] == "active" for r in records)
    body = client.get("/v1/me/points", headers=headers).json
    assert body["points"] < 1000 and body["restricted"] is True
    # Credit checks compare with the same name.
    r = client.post("/v1/dept/credit-checks", headers=dept, json={
        "subject": {"id_number": number, "name": real}, "purpose": "inspection",
        "matter_ref": "J-1"})
    assert r.status_code == 201, r.json


def test_a_subject_without_a_name_takes_the_next_reported_one(app, client, session):
    """The migration clears names that bindings had typed over the subject's; the next
    department's record gives the subject its name again, and later ones compare with it."""
    from sqlalchemy import select

    from points.models import Subject

    number = valid_id(seq=402)
    dept = department(app, client, "court")
    _defaulter(client, dept, number, "李四")
    subject = session.execute(select(Subject)).scalar_one()
    subject.name_enc = None
    session.commit()
    assert _defaulter(client, dept, number, "李 四")["rejected"] == []
    session.expire_all()
    assert session.execute(select(Subject.name_enc)).scalar_one() is not None
    rejected = push(client, dept, {"source_ref": "court-other", "type": "court.defaulter",
                                   "id_number": number, "name": "王五",
                                   "decided_on": "2026-05-01"}, expect_rejected=1)["rejected"]
    assert rejected[0]["problems"][0]["field"] == "subject.name"


def _verified(client, stub, openid: str, number: str, name: str) -> dict:
    """A new account of the person of `number`, verified as `name` (the stub accepts
    whatever spelling WeChat might), with the credit_points consent."""
    headers = auth(dev_login(client, openid)["access_token"])
    stub.person("dev:" + openid, number, "李四")
    client.put("/v1/me/consents/credit_points", headers=headers,
               json={"granted": True, "policy_version": "2026-01"})
    assert _attempt(client, stub, headers, number, name) == 200
    return headers


def _bound_before_any_record(client, stub, dept, number):
    """The person binds (as "李 四") before any department has reported them."""
    return _verified(client, stub, "first", number, "李 四")


def _moved_to_a_new_account(client, stub, dept, number):
    """Bound on one phone, then verified on another with another spelling."""
    _defaulter(client, dept, number, "李四")
    _verified(client, stub, "old-phone", number, "李四")
    return _verified(client, stub, "new-phone", number, "李\u3000四")


def _closed_and_bound_again(client, stub, dept, number):
    """The account is closed, then the person signs in again and binds as "李 四"."""
    _defaulter(client, dept, number, "李四")
    headers = _verified(client, stub, "closer", number, "李四")
    assert client.delete("/v1/me", headers=headers).status_code == 204
    return _verified(client, stub, "closer", number, " 李 四 ")


@pytest.mark.parametrize("way", [_bound_before_any_record, _moved_to_a_new_account,
                                 _closed_and_bound_again], ids=lambda f: f.__name__[1:])
def test_a_defaulter_record_counts_after_every_other_way_to_bind(app, client, face_wechat,
                                                                  way):
    number = valid_id(seq=403)
    dept = department(app, client, "court")
    headers = way(client, face_wechat, dept, number)
    pushed = _defaulter(client, dept, number, "李四")
    assert pushed["rejected"] == [] and pushed["accepted"][0]["result"] == "created"
    records = client.get("/v1/me/records", headers=headers).json
    assert records and all(r["type"] == "court.defaulter" and r["status"] == "active"
                           for r in records)
    body = client.get("/v1/me/points", headers=headers).json
    assert body["points"] < 1000 and body["restricted"] is True
    r = client.post("/v1/dept/credit-checks", headers=dept, json={
        "subject": {"id_number": number, "name": "李四"}, "purpose": "inspection",
        "matter_ref": "J-2"})
    assert r.status_code == 201, r.json
