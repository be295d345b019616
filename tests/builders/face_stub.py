"""WeChat's face verification (人脸核身) as a local stub server, for the tests.

It behaves as the documented APIs do: `getVerifyId` hands out a verify_id for an
openid, out_seq_no and cert_info; `queryVerifyInfo` answers an errcode when
verify_id, out_seq_no, cert_hash or openid are not the ones the verification was
started with, else a `verify_ret`. 10000 only when the face in front of the camera
(`faces[openid]`: whose ID number it really is) is the person of cert_no, and the
name matches the authority's record of that number (`authority`, compared as
leniently as an authority might ever be: spaces, width and the middle-dot variants
ignored, so the tests assume the worst of what WeChat accepts). Face data never
leaves it.
"""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import unicodedata

from werkzeug import Request, Response

FACE_MISMATCH = 10004  # 比对人脸信息不匹配
NAME_MISMATCH = 10003  # 身份证号(与姓名)不匹配
USER_CANCELLED = 90002
PARAMS_MISMATCH = 74001  # an errcode: what queryVerifyInfo was given is not the session's


def documented_cert_hash(cert_type: str, name: str, number: str) -> str:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return hashlib.sha256(f"cert_type={b64(cert_type)}&cert_name={b64(name)}"
                          f"&cert_no={b64(number)}".encode()).hexdigest()


def _lenient(name: str) -> str:
    text = "".join(unicodedata.normalize("NFKC", name).split())
    return "".join("·" if ch in "·•‧∙⋅・･.。" else ch for ch in text).casefold()


class FaceStub:
    def __init__(self, httpserver) -> None:
        self.server = httpserver
        self.sessions: dict[str, dict] = {}
        self.faces: dict[str, str] = {}       # openid -> ID number of the person really there
        self.authority: dict[str, str] = {}   # ID number -> name on record
        self.cancelled: set[str] = set()      # openids whose user cancels the camera
        self.calls: list[str] = []
        self.down = False                     # answer 502, as an outage does
        self.refuse_errcode: int | None = None  # getVerifyId refused with this errcode
        self.stale_tokens = 0                 # how many calls answer 40001 first
        self._ids = itertools.count(1)
        for path, handler in (("/cgi-bin/stable_token", self._token),
                              ("/cityservice/face/identify/getverifyid", self._get),
                              ("/cityservice/face/identify/queryverifyinfo", self._query)):
            httpserver.expect_request(path, method="POST").respond_with_handler(handler)

    def person(self, openid: str, number: str, name: str) -> None:
        """`openid` is held by the person of `number`, whose name on record is `name`."""
        self.faces[openid] = number
        self.authority[number] = name

    @staticmethod
    def _json(body: dict, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _token(self, request: Request) -> Response:
        self.calls.append("stable_token")
        return self._json({"access_token": f"token-{next(self._ids)}", "expires_in": 7200})

    def _stale(self) -> bool:
        if self.stale_tokens > 0:
            self.stale_tokens -= 1
            return True
        return False

    def _unavailable(self, call: str) -> Response | None:
        """Count the call; WeChat's answer when it is down or the token went stale."""
        self.calls.append(call)
        if self.down:
            return Response("bad gateway", status=502)
        if self._stale():
            return self._json({"errcode": 40001, "errmsg": "invalid credential"})
        return None

    def _get(self, request: Request) -> Response:
        if (unavailable := self._unavailable("getverifyid")) is not None:
            return unavailable
        if self.refuse_errcode is not None:
            return self._json({"errcode": self.refuse_errcode, "errmsg": "refused"})
        body = request.get_json()
        cert = body["cert_info"]
        verify_id = f"vid-{next(self._ids)}-{body['out_seq_no']}"
        self.sessions[verify_id] = {
            "openid": body["openid"], "out_seq_no": body["out_seq_no"], "cert": cert,
            "cert_hash": documented_cert_hash(cert["cert_type"], cert["cert_name"],
                                              cert["cert_no"])}
        return self._json({"errcode": 0, "errmsg": "ok", "verify_id": verify_id,
                           "expires_in": 3600})

    def _query(self, request: Request) -> Response:
        if (unavailable := self._unavailable("queryverifyinfo")) is not None:
            return unavailable
        body = request.get_json()
        started = self.sessions.get(body.get("verify_id"))
        if started is None or any(body.get(k) != started[k]
                                  for k in ("out_seq_no", "openid", "cert_hash")):
            return self._json({"errcode": PARAMS_MISMATCH, "errmsg": "param mismatch"})
        openid, cert = started["openid"], started["cert"]
        if openid in self.cancelled:
            verify_ret = USER_CANCELLED
        elif self.faces.get(openid) != cert["cert_no"]:
            verify_ret = FACE_MISMATCH
        elif _lenient(self.authority.get(cert["cert_no"], "")) != _lenient(cert["cert_name"]):
            verify_ret = NAME_MISMATCH
        else:
            verify_ret = 10000
        return self._json({"errcode": 0, "errmsg": "ok", "verify_ret": verify_ret})
