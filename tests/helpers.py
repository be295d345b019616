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


def resident(client, *, id_number: str | None = None, name: str = "张三",
             consents: tuple[str, ...] = ("credit_points", "merchant_share")) -> dict:
    """A signed-in resident with a bound identity and the given consents."""
    tokens = dev_login(client)
    headers = auth(tokens["access_token"])
    if id_number is not False:
        r = client.put("/v1/me/identity", headers=headers,
                       json={"name": name, "id_number": id_number or valid_id(seq=next(_openids) % 999)})
        assert r.status_code == 200, r.json
    for scope in consents:
        r = client.put(f"/v1/me/consents/{scope}", headers=headers,
                       json={"granted": True, "policy_version": "2026-01"})
        assert r.status_code == 200, r.json
    return {"headers": headers, **tokens}
