"""Face verification (人脸核身) steps against WeChat's stub (the `face_wechat`
fixture, tests/builders/face_stub.py)."""
from __future__ import annotations

from tests.builders.residents import auth, dev_login

NAME = "王小明"


def signed_in(client, stub, openid: str, number: str | None = None, name: str = NAME) -> dict:
    """A resident whose face is that of the person of `number` (for the stub)."""
    headers = auth(dev_login(client, openid)["access_token"])
    if number is not None:
        stub.person("dev:" + openid, number, name)
    return headers


def start(client, headers, number: str, name: str = NAME, status: int = 201):
    """POST /v1/me/identity/verifications; its body (the status checked)."""
    r = client.post("/v1/me/identity/verifications", headers=headers,
                    json={"name": name, "id_number": number})
    assert r.status_code == status, r.json
    return r.json


def finish(client, headers, verify_id: str, status: int = 200, **extra):
    """PUT /v1/me/identity with the verification; its body (the status checked)."""
    r = client.put("/v1/me/identity", headers=headers, json={"verify_id": verify_id, **extra})
    assert r.status_code == status, r.json
    return r.json
