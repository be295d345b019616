"""A small client of our own for the WeChat server APIs we use.

The maintained SDKs are stale, and we need only a few calls. Every answer's
`errcode` is checked; `session_key` is never returned to a caller or logged.

The access token the server APIs need is kept in Redis by one holder for every
process (`AccessTokenHolder`) and refreshed under a Redis lock, so a fleet of
workers asks WeChat for a token once, not once each. `stable_token` is used rather
than the old `token` call: in its normal mode a second caller gets the same token
back instead of invalidating the first one's, so even a process that cannot reach
Redis does no harm by asking directly. Subscription messages (`points.infra.notify`) and
face verification (人脸核身, `WeChatFaceVerifier`) share it.
"""
from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import redis
import requests
from redis.exceptions import LockError, LockNotOwnedError, RedisError
from redis.lock import Lock

from points.errors import Invalid, Unauthenticated, Unavailable
from points.i18n import gettext

log = logging.getLogger(__name__)
# Codes meaning the login code itself is bad: the user must log in again.
LOGIN_CODE_ERRORS = {40029, 40163, 40226}
# Codes meaning WeChat is busy or failing: try again later.
BUSY_ERRORS = {-1, 45011}
RATE_LIMITED = {45009, 45011}
RETRY_AFTER_SECONDS = 5
# The access token is invalid or expired: fetch a fresh one and try once more.
TOKEN_ERRORS = {40001, 40014, 42001}
TOKEN_KEY = "wechat:access_token"
TOKEN_LOCK = "wechat:access_token:lock"
# Refresh a little before WeChat's own expiry so a token never dies mid-call.
TOKEN_MARGIN_SECONDS = 300
# Face verification: the only verify_ret meaning "this is the person" (识别成功).
VERIFY_OK = 10000
VERIFY_ID_DEFAULT_TTL = 3600
CERT_TYPE = "IDENTITY_CARD"
T = TypeVar("T")


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    unionid: str | None = None


@dataclass(frozen=True)
class VerifyId:
    """WeChat's face-verification session (`getVerifyId`) and how long it can be used."""
    verify_id: str
    expires_in: int


class TokenRejected(Exception):
    """WeChat refused the access token (expired or replaced): refresh and try again."""

    def __init__(self, errcode: int) -> None:
        super().__init__(f"access token refused ({errcode})")
        self.errcode = errcode


def cert_hash(name: str, number: str, cert_type: str = CERT_TYPE) -> str:
    """`cert_hash` of `queryVerifyInfo`, as WeChat documents it: each of cert_type,
    cert_name and cert_no in standard base64 (of its UTF-8), joined as
    `cert_type=…&cert_name=…&cert_no=…`, then SHA-256 in lower-case hex."""
    def b64(text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    joined = f"cert_type={b64(cert_type)}&cert_name={b64(name)}&cert_no={b64(number)}"
    return hashlib.sha256(joined.encode("ascii")).hexdigest()


class WeChatClient:
    def __init__(self, base_url: str, appid: str, secret: str, timeout: float = 5.0,
                 http: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self.secret = secret
        self.timeout = timeout
        self.http = http or requests.Session()

    def _get(self, path: str, params: dict) -> dict:
        return self._call("GET", path, params=params)

    def _post(self, path: str, body: dict, params: dict | None = None) -> dict:
        return self._call("POST", path, params=params or {}, json=body)

    def _call(self, method: str, path: str, **kwargs) -> dict:
        """One call; unreachable, 5xx or unreadable answers become `Unavailable`."""
        try:
            response = self.http.request(method, self.base_url + path, timeout=self.timeout,
                                         **kwargs)
        except requests.RequestException as exc:
            log.warning("wechat %s unreachable: %s", path, type(exc).__name__)
            raise Unavailable(gettext("WeChat is not reachable; try again shortly"),
                              "WECHAT_UNAVAILABLE", retry_after=RETRY_AFTER_SECONDS) from exc
        if response.status_code >= 500:
            raise Unavailable(gettext("WeChat is not answering; try again shortly"),
                              "WECHAT_UNAVAILABLE", retry_after=RETRY_AFTER_SECONDS)
        try:
            data = response.json()
        except ValueError as exc:
            raise Unavailable(gettext("WeChat gave an unreadable answer"), "WECHAT_UNAVAILABLE",
                              retry_after=RETRY_AFTER_SECONDS) from exc
        if not isinstance(data, dict):
            raise Unavailable(gettext("WeChat gave an unreadable answer"), "WECHAT_UNAVAILABLE",
                              retry_after=RETRY_AFTER_SECONDS)
        return data

    def code_to_session(self, code: str) -> WeChatSession:
        """`jscode2session`: exchange the mini-program login code for the openid."""
        data = self._get("/sns/jscode2session", {
            "appid": self.appid, "secret": self.secret, "js_code": code,
            "grant_type": "authorization_code",
        })
        errcode = int(data.get("errcode") or 0)
        if errcode in BUSY_ERRORS:
            raise Unavailable(gettext("WeChat is busy; try again shortly"), "WECHAT_UNAVAILABLE",
                              retry_after=RETRY_AFTER_SECONDS)
        if errcode != 0:
            log.info("wechat login refused with errcode %s", errcode)
            raise Unauthenticated(gettext("WeChat did not accept the login code"), "WECHAT_LOGIN_FAILED")
        openid = data.get("openid")
        if not isinstance(openid, str) or not openid:
            raise Unauthenticated(gettext("WeChat returned no openid"), "WECHAT_LOGIN_FAILED")
        # data["session_key"] is deliberately dropped here: nothing downstream needs it.
        unionid = data.get("unionid") if isinstance(data.get("unionid"), str) else None
        return WeChatSession(openid=openid, unionid=unionid)

    def stable_token(self, force_refresh: bool = False) -> tuple[str, int]:
        """(access_token, expires_in seconds) from `/cgi-bin/stable_token`."""
        data = self._post("/cgi-bin/stable_token", {
            "grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
            "force_refresh": force_refresh,
        })
        errcode = _errcode(data)
        token = data.get("access_token")
        if errcode != 0 or not isinstance(token, str) or not token:
            # A wrong appid or secret is as useless as a busy WeChat: retry later.
            log.warning("wechat stable_token refused with errcode %s", errcode)
            raise Unavailable(gettext("WeChat gave no access token"), "WECHAT_UNAVAILABLE",
                              retry_after=RETRY_AFTER_SECONDS)
        try:
            expires_in = int(data.get("expires_in") or 7200)
        except (TypeError, ValueError):
            expires_in = 7200
        return token, expires_in

    def get_verify_id(self, access_token: str, openid: str, out_seq_no: str, name: str,
                      number: str) -> VerifyId:
        """`getVerifyId`: start a face verification of `openid` as the person named."""
        data = self._face_call("/cityservice/face/identify/getverifyid", access_token, {
            "out_seq_no": out_seq_no, "openid": openid,
            "cert_info": {"cert_type": CERT_TYPE, "cert_name": name, "cert_no": number},
        })
        verify_id = data.get("verify_id")
        if not isinstance(verify_id, str) or not verify_id or len(verify_id) > 256:
            raise Unavailable(gettext("WeChat gave no verify_id"), "WECHAT_UNAVAILABLE",
                              retry_after=RETRY_AFTER_SECONDS)
        expires_in = data.get("expires_in")
        if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in <= 0:
            expires_in = VERIFY_ID_DEFAULT_TTL
        return VerifyId(verify_id, min(expires_in, VERIFY_ID_DEFAULT_TTL))

    def query_verify_info(self, access_token: str, verify_id: str, out_seq_no: str,
                          cert_hash: str, openid: str) -> int:
        """`queryVerifyInfo`: the verification's `verify_ret` (10000: it was the person).
        WeChat checks that out_seq_no, cert_hash and openid are the ones the verification
        was started with, and answers an errcode instead of a verify_ret if not."""
        data = self._face_call("/cityservice/face/identify/queryverifyinfo", access_token, {
            "verify_id": verify_id, "out_seq_no": out_seq_no, "cert_hash": cert_hash,
            "openid": openid,
        })
        verify_ret = data.get("verify_ret")
        if not isinstance(verify_ret, int) or isinstance(verify_ret, bool):
            raise Unavailable(gettext("WeChat gave no verify_ret"), "WECHAT_UNAVAILABLE",
                              retry_after=RETRY_AFTER_SECONDS)
        return verify_ret

    def _face_call(self, path: str, access_token: str, body: dict) -> dict:
        """A face-verification call; its errcode mapped: the token refused
        (`TokenRejected`), WeChat busy (503), anything else a refusal of the request (422)."""
        data = self._post(path, body, params={"access_token": access_token})
        errcode = _errcode(data)
        if errcode in TOKEN_ERRORS:
            raise TokenRejected(errcode)
        if errcode in BUSY_ERRORS or errcode in RATE_LIMITED:
            raise Unavailable(gettext("WeChat is busy; try again shortly"), "WECHAT_UNAVAILABLE",
                              retry_after=RETRY_AFTER_SECONDS)
        if errcode != 0:
            log.info("wechat %s refused with errcode %s", path, errcode)
            raise Invalid(gettext("WeChat refused the face verification request"),
                          "FACE_VERIFICATION_FAILED", wechat_errcode=errcode)
        return data


def _errcode(data: dict) -> int:
    try:
        return int(data.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


class _PortableLock(Lock):
    """redis-py's lock, released with WATCH/MULTI instead of a Lua script, so it also
    works on the in-process Redis stand-in (which has no script engine)."""

    def do_release(self, expected_token: bytes) -> None:
        name = self.name

        def compare_and_delete(pipe: Any) -> None:
            held = pipe.get(name)
            if isinstance(held, str):
                held = held.encode()
            if held != expected_token:
                raise LockNotOwnedError("cannot release a lock that is no longer owned",
                                        lock_name=name)
            pipe.multi()
            pipe.delete(name)

        self.redis.transaction(compare_and_delete, name)


class AccessTokenHolder:
    """The one shared access token, in Redis; refreshed by one process at a time."""

    def __init__(self, client: WeChatClient, cache: redis.Redis | None,
                 lock_timeout: float = 10.0, wait: float = 5.0) -> None:
        self.client = client
        self.cache = cache
        self.lock_timeout = lock_timeout
        self.wait = wait

    def _cached(self) -> str | None:
        if self.cache is None:
            return None
        value = self.cache.get(TOKEN_KEY)
        return value.decode() if isinstance(value, bytes) else value

    def get(self) -> str:
        try:
            cached = self._cached()
        except RedisError:
            log.warning("redis unavailable; asking WeChat for the access token directly")
            return self.client.stable_token()[0]
        return cached or self.refresh()

    def refresh(self, stale: str | None = None) -> str:
        """A fresh token. With `stale` (a token WeChat refused), the refresh is forced
        unless another process has already replaced that token."""
        if self.cache is None:
            return self.client.stable_token(force_refresh=stale is not None)[0]
        try:
            with self.cache.lock(TOKEN_LOCK, timeout=self.lock_timeout,
                                 blocking_timeout=self.wait, lock_class=_PortableLock):
                cached = self._cached()
                if cached and cached != stale:
                    return cached  # someone refreshed while we waited for the lock
                token, expires_in = self.client.stable_token(force_refresh=stale is not None)
                self.cache.set(TOKEN_KEY, token,
                               ex=max(60, expires_in - TOKEN_MARGIN_SECONDS))
                return token
        except LockError as exc:
            # Not acquired in time (another process is refreshing), or it expired under
            # a slow call: either way a fresh token may now be there.
            cached = self._cached()
            if cached and cached != stale:
                return cached
            raise Unavailable(gettext("another process is refreshing the WeChat token"),
                              "WECHAT_UNAVAILABLE", retry_after=RETRY_AFTER_SECONDS) from exc
        except RedisError:
            log.warning("redis unavailable; asking WeChat for the access token directly")
            return self.client.stable_token(force_refresh=stale is not None)[0]

    def call(self, request: Callable[[str], T]) -> T:
        """`request(access_token)`, once more with a fresh token if WeChat refused it."""
        token = self.get()
        try:
            return request(token)
        except TokenRejected:
            fresh = self.refresh(stale=token)
        try:
            return request(fresh)
        except TokenRejected as exc:
            raise Unavailable(gettext("WeChat refused a fresh access token"), "WECHAT_UNAVAILABLE",
                              retry_after=RETRY_AFTER_SECONDS) from exc


class FaceVerifier(Protocol):
    """Starts and checks face verifications (人脸核身): WeChat's in production, a
    stand-in in development (`points.people.face.StandInVerifier`)."""

    def get_verify_id(self, openid: str, out_seq_no: str, name: str,
                      number: str) -> VerifyId: ...

    def query_verify_info(self, verify_id: str, out_seq_no: str, cert_hash: str,
                          openid: str) -> int: ...


class WeChatFaceVerifier:
    """Face verification through WeChat's `getVerifyId` and `queryVerifyInfo`, with the
    shared access token."""

    def __init__(self, client: WeChatClient, tokens: AccessTokenHolder) -> None:
        self.client = client
        self.tokens = tokens

    def get_verify_id(self, openid: str, out_seq_no: str, name: str, number: str) -> VerifyId:
        return self.tokens.call(lambda token: self.client.get_verify_id(
            token, openid, out_seq_no, name, number))

    def query_verify_info(self, verify_id: str, out_seq_no: str, cert_hash: str,
                          openid: str) -> int:
        return self.tokens.call(lambda token: self.client.query_verify_info(
            token, verify_id, out_seq_no, cert_hash, openid))
