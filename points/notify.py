"""WeChat subscription messages (订阅消息): the access token and the send call.

The access token is kept in Redis by one holder for every process and refreshed
under a Redis lock, so a fleet of workers asks WeChat for a token once, not once
each. `stable_token` is used rather than the old `token` call: in its normal mode
a second caller gets the same token back instead of invalidating the first one's,
so even a process that cannot reach Redis does no harm by asking directly.

`WeChatNotifier.send` never raises for WeChat's answers: it classifies each one
as sent, skipped (the user has not subscribed: 43101), retry (WeChat busy or
unreachable) or failed (a template or its data is wrong), and the outbox decides
what to do next.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import LockError, LockNotOwnedError, RedisError
from redis.lock import Lock

from points.errors import Unavailable
from points.wechat import BUSY_ERRORS, RETRY_AFTER_SECONDS, WeChatClient

log = logging.getLogger(__name__)

TOKEN_KEY = "wechat:access_token"
TOKEN_LOCK = "wechat:access_token:lock"
# Refresh a little before WeChat's own expiry so a token never dies mid-send.
TOKEN_MARGIN_SECONDS = 300
# The access token is invalid or expired: fetch a fresh one and try once more.
TOKEN_ERRORS = {40001, 40014, 42001}
# The user has not subscribed (or used up their one-time subscription): stop.
NOT_SUBSCRIBED = 43101
# The openid is not a user of this mini-program: nobody to send to.
NO_SUCH_USER = {40003}
# WeChat refuses the message itself (template, data or page wrong): retrying will not help.
PERMANENT_ERRORS = {40037, 41028, 41029, 41030, 47003}
RATE_LIMITED = {45009, 45011}

# Our templates each have the same four fields, chosen in the mini-program console:
# thing1 (事项), phrase2 (结果), date3 (日期), thing4 (说明).
DEFAULT_TEMPLATES = {
    "repair_decided": "repair-decided-template",
    "objection_decided": "objection-decided-template",
    "commitment_outcome": "commitment-outcome-template",
}


@dataclass(frozen=True)
class SendResult:
    outcome: str  # sent | skipped | retry | failed
    detail: str | None = None


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


class SubscribeClient(WeChatClient):
    """The server calls for subscription messages, with `WeChatClient`'s error handling
    (unreachable, 5xx or unreadable answers become `Unavailable`)."""

    def stable_token(self, force_refresh: bool = False) -> tuple[str, int]:
        """(access_token, expires_in seconds) from `/cgi-bin/stable_token`."""
        data = self._post("/cgi-bin/stable_token", {
            "grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
            "force_refresh": force_refresh,
        })
        errcode = int(data.get("errcode") or 0)
        token = data.get("access_token")
        if errcode != 0 or not isinstance(token, str) or not token:
            # A wrong appid or secret is as useless as a busy WeChat: retry later.
            log.warning("wechat stable_token refused with errcode %s", errcode)
            raise Unavailable("WeChat gave no access token", "WECHAT_UNAVAILABLE",
                              retry_after=RETRY_AFTER_SECONDS)
        try:
            expires_in = int(data.get("expires_in") or 7200)
        except (TypeError, ValueError):
            expires_in = 7200
        return token, expires_in

    def send_subscribe(self, access_token: str, body: dict) -> int:
        """POST `/cgi-bin/message/subscribe/send`; WeChat's errcode (0 = sent)."""
        data = self._post("/cgi-bin/message/subscribe/send", body,
                          params={"access_token": access_token})
        try:
            return int(data.get("errcode") or 0)
        except (TypeError, ValueError):
            return -1


class AccessTokenHolder:
    """The one shared access token, in Redis; refreshed by one process at a time."""

    def __init__(self, client: SubscribeClient, cache: redis.Redis | None,
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
            raise Unavailable("another process is refreshing the WeChat token",
                              "WECHAT_UNAVAILABLE", retry_after=RETRY_AFTER_SECONDS) from exc
        except RedisError:
            log.warning("redis unavailable; asking WeChat for the access token directly")
            return self.client.stable_token(force_refresh=stale is not None)[0]


class WeChatNotifier:
    """Sends one outbox message as a subscription message."""

    def __init__(self, client: SubscribeClient, tokens: AccessTokenHolder,
                 templates: dict[str, str] | None = None, state: str = "formal") -> None:
        self.client = client
        self.tokens = tokens
        self.templates = {**DEFAULT_TEMPLATES, **(templates or {})}
        self.state = state

    def send(self, openid: str, event: str, page: str | None, data: dict) -> SendResult:
        template_id = self.templates.get(event)
        if not template_id:
            return SendResult("failed", f"no template configured for {event!r}")
        body: dict[str, Any] = {
            "touser": openid, "template_id": template_id, "miniprogram_state": self.state,
            "lang": "zh_CN", "data": {k: {"value": v} for k, v in data.items()},
        }
        if page:
            body["page"] = page
        try:
            token = self.tokens.get()
            errcode = self.client.send_subscribe(token, body)
            if errcode in TOKEN_ERRORS:
                errcode = self.client.send_subscribe(self.tokens.refresh(stale=token), body)
        except Unavailable as exc:
            return SendResult("retry", exc.message)
        return classify(errcode)


def classify(errcode: int) -> SendResult:
    """What an errcode of the send call means for the message."""
    if errcode == 0:
        return SendResult("sent")
    if errcode == NOT_SUBSCRIBED:
        return SendResult("skipped", "the user has not subscribed (43101)")
    if errcode in NO_SUCH_USER:
        return SendResult("skipped", f"the openid is not valid ({errcode})")
    if errcode in PERMANENT_ERRORS:
        return SendResult("failed", f"WeChat refused the message ({errcode})")
    if errcode in BUSY_ERRORS or errcode in RATE_LIMITED or errcode in TOKEN_ERRORS:
        return SendResult("retry", f"WeChat is busy ({errcode})")
    return SendResult("retry", f"WeChat answered errcode {errcode}")
