"""`seed-demo` sets up every flow and can run again."""
from __future__ import annotations

from sqlalchemy import select

from points.models import CreditRecord, Department, User


def test_seed_demo_is_repeatable_and_prints_credentials(app, client, session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "X-API-Key: dk_" in first.output and "Authorization: Bearer ey" in first.output
    assert "admin-demo-2026" in first.output
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert session.execute(select(Department)).scalars().all().__len__() == 2
    assert session.query(CreditRecord).count() == 4
    assert session.query(User).filter(User.subject_id.is_not(None)).count() == 3
    # A printed token works, and the demo resident's points are what the records give.
    token = next(line.split("Bearer ")[1] for line in second.output.splitlines()
                 if "Bearer" in line)
    body = client.get("/v1/me/points", headers={"Authorization": f"Bearer {token}"}).json
    assert body["points"] == 1032 and body["level"] == "AA"
    perks = client.get("/v1/perks", headers={"Authorization": f"Bearer {token}"}).json
    assert len(perks) == 3 and all(p["eligible"] for p in perks)


def _printed(output: str, marker: str) -> list[str]:
    return [line.split(marker)[1].split()[0] for line in output.splitlines() if marker in line]


def test_seed_demo_prints_the_same_keys_and_tokens_after_a_restart(app, client, tmp_path):
    app.config["DEMO_TOKENS_PATH"] = str(tmp_path / "demo-tokens.json")
    try:
        runner = app.test_cli_runner()
        first = runner.invoke(args=["seed-demo"]).output
        second = runner.invoke(args=["seed-demo"]).output
        keys = _printed(first, "X-API-Key: ")
        assert len(keys) == 2 and keys == _printed(second, "X-API-Key: ")
        tokens = _printed(first, "Bearer ")
        assert len(tokens) == 3 and tokens == _printed(second, "Bearer ")
        assert "Access tokens live 15 minutes" in second
        # The key printed twice still works, and so does the token.
        answer = client.get("/v1/dept/quality-issues", headers={"X-API-Key": keys[0]})
        assert answer.status_code == 200
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {tokens[0]}"})
        assert me.status_code == 200
        # Once the printed refresh token is spent, the next run prints a new pair.
        refresh = _printed(first, "refresh_token: ")[0]
        assert client.post("/v1/auth/refresh", json={"refresh_token": refresh}).status_code == 200
        third = runner.invoke(args=["seed-demo"]).output
        assert _printed(third, "Bearer ")[0] != tokens[0]
        assert _printed(third, "Bearer ")[1:] == tokens[1:]
        assert _printed(third, "X-API-Key: ") == keys
    finally:
        app.config.pop("DEMO_TOKENS_PATH", None)


def test_a_newcomer_binds_on_the_demo_without_wechat(app, client, session):
    """`make run` uses the face-verification stand-in: a newcomer signs in with the dev
    login and binds (both ways the mini-program may), the demo residents stay verified."""
    from tests.builders.residents import auth, dev_login, valid_id

    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    assert session.query(User).filter(User.identity_verified_at.is_not(None)).count() == 3
    headers = auth(dev_login(client, "newcomer")["access_token"])
    r = client.post("/v1/me/identity/verifications", headers=headers,
                    json={"name": "周九", "id_number": valid_id(seq=501)})
    assert r.status_code == 201, r.json
    r = client.put("/v1/me/identity", headers=headers, json={"verify_id": r.json["verify_id"]})
    assert r.status_code == 200 and r.json["verified_at"]
    other = auth(dev_login(client, "newcomer-2")["access_token"])
    r = client.put("/v1/me/identity", headers=other,
                   json={"name": "吴十", "id_number": valid_id(seq=502)})
    assert r.status_code == 200 and r.json["verified_at"]
    assert client.get("/v1/me", headers=other).json["identity_verified"] is True


def test_the_demo_counter_works_as_the_readme_walks_it(app, client, tmp_path):
    """张三 (staff of demo merchant #1) scans 王五's code for perk #1 and grants it."""
    app.config["DEMO_TOKENS_PATH"] = str(tmp_path / "demo-tokens.json")
    try:
        output = app.test_cli_runner().invoke(args=["seed-demo"]).output
    finally:
        app.config.pop("DEMO_TOKENS_PATH", None)
    zhang, _, wang = (f"Bearer {t}" for t in _printed(output, "Bearer "))
    code = client.post("/v1/me/verification-tokens", headers={"Authorization": wang})
    assert code.status_code == 201
    staff = {"Authorization": zhang, "X-Merchant-Id": "1"}
    scan = client.post("/v1/merchant/verifications", headers=staff,
                       json={"token": code.json["token"], "perk_id": 1})
    assert scan.status_code == 201 and scan.json["eligible"] is True, scan.json
    assert scan.json["level"] == "A"
    grant = client.post("/v1/merchant/redemptions", headers={**staff, "Idempotency-Key": "wt-2"},
                        json={"verification_id": scan.json["id"]})
    assert grant.status_code == 201 and grant.json["status"] == "granted"
    own = client.post("/v1/me/verification-tokens", headers={"Authorization": zhang})
    refused = client.post("/v1/merchant/verifications", headers=staff,
                          json={"token": own.json["token"], "perk_id": 1})
    assert refused.status_code == 409 and refused.json["error_code"] == "OWN_CODE"
