"""The credit office's admin and the departments that push records (source refs are
numbered with the residents' openids, one sequence for the whole run)."""
from __future__ import annotations

from tests.builders.residents import auth, serial


def admin_headers(app, client, username: str = "office", password: str = "s3cret-pass") -> dict:
    """A credit-office admin's Authorization header (the account is created if needed)."""
    from argon2 import PasswordHasher
    from sqlalchemy import select

    from points.models import AdminAccount

    s = app.state.db.new_session()
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
        batch.append({"source_ref": rec.pop("source_ref", f"ref-{next(serial)}-{i}"),
                      "subject": subject, **rec})
    r = client.post("/v1/dept/records", headers=dept_headers, json={"records": batch})
    assert r.status_code == 200, r.json
    assert len(r.json["rejected"]) == expect_rejected, r.json["rejected"]
    return r.json


def record_for(client, dept: dict, who: dict, type_: str = "admin.penalty.general",
               decided_on: str = "2026-06-01", **extra) -> int:
    """One record pushed for `who` (a `residents.person`); its record id."""
    fields = {"decided_on": decided_on} if "occurred_on" not in extra else {}
    result = push(client, dept, {"type": type_, "id_number": who["id_number"],
                                 "name": who["name"], **fields, **extra})
    return result["accepted"][0]["record_id"]
