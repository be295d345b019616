"""Helpers for API scenario tests."""
from __future__ import annotations

import itertools

_openids = itertools.count(1)

# Valid GB 11643 numbers for tests (check digits computed by python-stdnum).
ADULT_ID = "430104199001011237"


def valid_id(birth: str = "19900101", region: str = "430104", seq: int = 123) -> str:
    from stdnum.cn import ric

    body = f"{region}{birth}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def dev_login(client, openid: str | None = None) -> dict:
    openid = openid or f"user-{next(_openids)}"
    response = client.post("/v1/auth/dev/login", json={"openid": openid})
    assert response.status_code == 200, response.json
    return response.json


def bind(client, headers: dict, name: str, id_number: str, phone: str | None = None,
         status: int = 200):
    """Real-name binding as the mini-program does it: start a face verification, then
    bind with its verify_id (the test app's verifier is the development stand-in, which
    passes every verification; `face_wechat` in conftest puts WeChat's stub instead).
    Returns the binding's response."""
    r = client.post("/v1/me/identity/verifications", headers=headers,
                    json={"name": name, "id_number": id_number})
    if r.status_code != 201:
        assert r.status_code == status, r.json
        return r
    body = {"verify_id": r.json["verify_id"]}
    if phone is not None:
        body["phone"] = phone
    r = client.put("/v1/me/identity", headers=headers, json=body)
    assert r.status_code == status, r.json
    return r


def resident(client, *, id_number: str | None = None, name: str = "张三",
             consents: tuple[str, ...] = ("credit_points", "merchant_share"),
             openid: str | None = None) -> dict:
    """A signed-in resident with a bound identity and the given consents.
    Sign in again later (after travelling in time) with `signed_in(client, r["openid"])`."""
    openid = openid or f"user-{next(_openids)}"
    tokens = dev_login(client, openid)
    headers = auth(tokens["access_token"])
    if id_number is not False:
        bind(client, headers, name, id_number or valid_id(seq=next(_openids) % 999))
    for scope in consents:
        r = client.put(f"/v1/me/consents/{scope}", headers=headers,
                       json={"granted": True, "policy_version": "2026-01"})
        assert r.status_code == 200, r.json
    return {"headers": headers, "openid": openid, **tokens}


def signed_in(client, openid: str) -> dict:
    """Authorization header for a fresh sign-in of an existing resident."""
    return auth(dev_login(client, openid)["access_token"])


def admin_headers(app, client, username: str = "office", password: str = "s3cret-pass") -> dict:
    """A credit-office admin's Authorization header (the account is created if needed)."""
    from argon2 import PasswordHasher
    from sqlalchemy import select

    from points.models import AdminAccount

    s = app.extensions["credit"].db.new_session()
    if s.execute(select(AdminAccount).where(AdminAccount.username == username)).scalar() is None:
        s.add(AdminAccount(username=username, password_hash=PasswordHasher().hash(password)))
        s.commit()
    s.close()
    r = client.post("/v1/auth/admin/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.json
    return auth(r.json["access_token"])


def department(app, client, code: str = "market", record_types: list[str] | None = None,
               name: str | None = None) -> dict:
    """Create a department allowed to push `record_types` (default: every type);
    returns its X-API-Key header."""
    from points.rules.rulesets import default_rule_set

    types = record_types if record_types is not None else sorted(default_rule_set().resolved_types)
    r = client.post("/v1/admin/departments", headers=admin_headers(app, client),
                    json={"code": code, "name": name or f"{code} 局", "record_types": types})
    assert r.status_code == 201, r.json
    return {"X-API-Key": r.json["api_key"]}


def push(client, dept_headers: dict, *records: dict, expect_rejected: int = 0) -> dict:
    """Push records; each dict needs at least type, id_number and the right dates."""
    batch = []
    for i, rec in enumerate(records):
        rec = dict(rec)
        subject = {"id_number": rec.pop("id_number"), "name": rec.pop("name", "张三")}
        batch.append({"source_ref": rec.pop("source_ref", f"ref-{next(_openids)}-{i}"),
                      "subject": subject, **rec})
    r = client.post("/v1/dept/records", headers=dept_headers, json={"records": batch})
    assert r.status_code == 200, r.json
    assert len(r.json["rejected"]) == expect_rejected, r.json["rejected"]
    return r.json


def run_jobs(app, queue: str = "recompute") -> None:
    """Background jobs: with a real Redis they wait for a worker process (`flask
    worker`), played here by a burst worker until the queue is empty; the in-process
    stand-in ran them when they were queued."""
    if app.config["REDIS_URL"].startswith("memory://"):
        return
    import rq

    state = app.extensions["credit"]
    with app.app_context():
        rq.SimpleWorker([rq.Queue(queue, connection=state.redis)],
                        connection=state.redis).work(burst=True)
