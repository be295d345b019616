"""Residents: valid ID numbers, signing in, real-name binding, consents, and the
reads a resident makes of their own points and records."""
from __future__ import annotations

import itertools

serial = itertools.count(1)  # openids, ID numbers and source refs: one sequence per run
_people = itertools.count(1)

# Valid GB 11643 numbers for tests (check digits computed by python-stdnum).
ADULT_ID = "430104199001011237"


def valid_id(birth: str = "19900101", region: str = "430104", seq: int = 123) -> str:
    from stdnum.cn import ric

    body = f"{region}{birth}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def dev_login(client, openid: str | None = None) -> dict:
    openid = openid or f"user-{next(serial)}"
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


def resident(client, *, id_number: str | bool | None = None, name: str = "张三",
             consents: tuple[str, ...] = ("credit_points", "merchant_share"),
             openid: str | None = None) -> dict:
    """A signed-in resident: bound to `id_number` (None: a fresh valid number; False:
    not bound) under `name`, with the given consents. Carries the tokens, `headers`,
    `openid`, `user_id`, the `id_number` and `name` a department pushes records with
    (`departments.record_for`), and `login()`, which signs in again (after the clock
    moved past the token's life) and updates `headers`. Sign in again elsewhere with
    `signed_in(client, r["openid"])`."""
    openid = openid or f"user-{next(serial)}"
    tokens = dev_login(client, openid)
    headers = auth(tokens["access_token"])
    if id_number is None:
        id_number = valid_id(seq=next(serial) % 999)
    if id_number is not False:
        bind(client, headers, name, id_number)
    for scope in consents:
        r = client.put(f"/v1/me/consents/{scope}", headers=headers,
                       json={"granted": True, "policy_version": "2026-01"})
        assert r.status_code == 200, r.json
    who = {"headers": headers, "openid": openid, **tokens, "user_id": tokens["user"]["id"],
           "id_number": id_number or None, "name": name}
    who["login"] = lambda: who.update(headers=signed_in(client, openid))
    return who


def signed_in(client, openid: str) -> dict:
    """Authorization header for a fresh sign-in of an existing resident."""
    return auth(dev_login(client, openid)["access_token"])


def person(client, name: str = "张三", seq: int | None = None) -> dict:
    """`resident` with the credit_points consent only, its ID number from its own
    sequence (`seq`: a chosen one)."""
    number = valid_id(seq=seq if seq is not None else 100 + next(_people) % 800)
    return resident(client, id_number=number, name=name, consents=("credit_points",),
                    openid=f"wf-{next(_people)}")


def points_body(client, who: dict) -> dict:
    """The resident's points today as GET /v1/me/points answers them."""
    r = client.get("/v1/me/points", headers=who["headers"])
    assert r.status_code == 200, r.json
    return r.json


def points(client, who: dict) -> int:
    """The resident's points today (GET /v1/me/points)."""
    return points_body(client, who)["points"]


def my_record(client, who: dict, record_id: int) -> dict:
    """One of the resident's records as GET /v1/me/records lists it."""
    r = client.get("/v1/me/records", headers=who["headers"])
    assert r.status_code == 200, r.json
    return next(rec for rec in r.json if rec["id"] == record_id)


def apply(client, who: dict, record_id: int, **body):
    """The resident applies for a credit repair of a record (the response, unchecked)."""
    payload = {"record_id": record_id, "statement": "罚款已缴清，整改完毕",
               "commitment": "今后依法经营，不再发生同类违法行为",
               "evidence": [{"kind": "receipt", "ref": "oss://receipts/2026-001.pdf"}], **body}
    return client.post("/v1/me/repairs", headers=who["headers"], json=payload)
