"""A small client of our own for the WeChat server APIs we use.

The maintained SDKs are stale, and we need only a few calls. Every answer's
`errcode` is checked; `session_key` is never returned to a caller or logged.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import requests

from points.errors import Unauthenticated, Unavailable

log = logging.getLogger(__name__)
# Codes meaning the login code itself is bad: the user must log in again.
LOGIN_CODE_ERRORS = {40029, 40163, 40226}
# Codes meaning WeChat is busy or failing: try again later.
BUSY_ERRORS = {-1, 45011}
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    unionid: str | None = None


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
            raise Unavailable("WeChat is not reachable; try again shortly",
                              "WECHAT_UNAVAILABLE", retry_after=RETRY_AFTER_SECONDS) from exc
        if response.status_code >= 500:
            raise Unavailable("WeChat is not answering; try again shortly",
                              "WECHAT_UNAVAILABLE", retry_after=RETRY_AFTER_SECONDS)
        try:
            data = response.json()
        except ValueError as exc:
            raise Unavailable("WeChat gave an unreadable answer", "WECHAT_UNAVAILABLE",
                              retry_after=RETRY_AFTER_SECONDS) from exc
        if not isinstance(data, dict):
            raise Unavailable("WeChat gave an unreadable answer", "WECHAT_UNAVAILABLE",
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
            raise Unavailable("WeChat is busy; try again shortly", "WECHAT_UNAVAILABLE",
                              retry_after=RETRY_AFTER_SECONDS)
        if errcode != 0:
            log.info("wechat login refused with errcode %s", errcode)
            raise Unauthenticated("WeChat did not accept the login code", "WECHAT_LOGIN_FAILED")
        openid = data.get("openid")
        if not isinstance(openid, str) or not openid:
            raise Unauthenticated("WeChat returned no openid", "WECHAT_LOGIN_FAILED")
        # data["session_key"] is deliberately dropped here: nothing downstream needs it.
        unionid = data.get("unionid") if isinstance(data.get("unionid"), str) else None
        return WeChatSession(openid=openid, unionid=unionid)
