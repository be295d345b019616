"""WeChat subscription messages (订阅消息): the send call.

The access token comes from the one shared holder in `points.infra.wechat`
(`AccessTokenHolder`, the `stable_token` call), which face verification uses too.

`WeChatNotifier.send` never raises for WeChat's answers: it classifies each one
as sent, skipped (the user has not subscribed: 43101), retry (WeChat busy or
unreachable) or failed (a template or its data is wrong), and the outbox decides
what to do next.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from points.errors import Unavailable
from points.infra.wechat import (  # noqa: F401 - the token holder's names, re-exported
    BUSY_ERRORS,
    RATE_LIMITED,
    TOKEN_ERRORS,
    TOKEN_KEY,
    TOKEN_LOCK,
    TOKEN_MARGIN_SECONDS,
    AccessTokenHolder,
    WeChatClient,
)

log = logging.getLogger(__name__)

# The user has not subscribed (or used up their one-time subscription): stop.
NOT_SUBSCRIBED = 43101
# The openid is not a user of this mini-program: nobody to send to.
NO_SUCH_USER = {40003}
# WeChat refuses the message itself (template, data or page wrong): retrying will not help.
PERMANENT_ERRORS = {40037, 41028, 41029, 41030, 47003}

# Our templates each have the same four fields, chosen in the mini-program console:
# thing1 (事项), phrase2 (结果), date3 (日期), thing4 (说明).
DEFAULT_TEMPLATES = {
    "record_negative": "record-negative-template",
    "record_changed": "record-changed-template",
    "level_changed": "level-changed-template",
    "credit_checked": "credit-checked-template",
    "report_viewed": "report-viewed-template",
    "repair_decided": "repair-decided-template",
    "objection_decided": "objection-decided-template",
    "commitment_outcome": "commitment-outcome-template",
    "identity_moved": "identity-moved-template",
}


@dataclass(frozen=True)
class SendResult:
    outcome: str  # sent | skipped | retry | failed
    detail: str | None = None


class SubscribeClient(WeChatClient):
    """The server calls for subscription messages, with `WeChatClient`'s error handling
    (unreachable, 5xx or unreadable answers become `Unavailable`)."""

    def send_subscribe(self, access_token: str, body: dict) -> int:
        """POST `/cgi-bin/message/subscribe/send`; WeChat's errcode (0 = sent)."""
        data = self._post("/cgi-bin/message/subscribe/send", body,
                          params={"access_token": access_token})
        try:
            return int(data.get("errcode") or 0)
        except (TypeError, ValueError):
            return -1


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
