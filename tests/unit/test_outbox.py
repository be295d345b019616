"""The pure parts of notifications: back-off, WeChat's field limits, what each
errcode means, and one token refresh for many concurrent callers."""
from __future__ import annotations

import datetime as dt
import threading
import time

import fakeredis
import pytest
import redis

from points.errors import Unavailable
from points.infra import outbox
from points.infra.notify import TOKEN_KEY, AccessTokenHolder, classify


def test_backoff_doubles_and_is_capped():
    assert [outbox.backoff(n) for n in (1, 2, 3, 4)] == [
        dt.timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert outbox.backoff(30) == dt.timedelta(hours=6)


def test_fields_fit_wechat_limits():
    data = outbox.message_data("行政处罚（一般）" * 5, "未通过啊啊啊", dt.date(2026, 10, 13), None)
    assert len(data["thing1"]) == 20 and data["thing1"].endswith("…")
    assert data["phrase2"] == "未通过啊啊"
    assert data["date3"] == "2026-10-13" and data["thing4"] == "—"


@pytest.mark.parametrize(("errcode", "outcome"), [
    (0, "sent"), (43101, "skipped"), (40003, "skipped"), (47003, "failed"),
    (40037, "failed"), (-1, "retry"), (45009, "retry"), (40001, "retry"), (99999, "retry"),
])
def test_errcodes(errcode, outcome):
    assert classify(errcode).outcome == outcome


class SlowClient:
    """Stands in for SubscribeClient.stable_token: slow, and counts its calls."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def stable_token(self, force_refresh: bool = False) -> tuple[str, int]:
        self.calls.append(force_refresh)
        time.sleep(0.2)
        return f"TOKEN-{len(self.calls)}", 7200


def test_one_refresh_for_many_concurrent_callers():
    cache = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    client = SlowClient()
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(
        AccessTokenHolder(client, cache).get())) for _ in range(4)]  # type: ignore[arg-type]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.calls == [False]
    assert tokens == ["TOKEN-1"] * 4
    assert cache.get(TOKEN_KEY) == b"TOKEN-1"
    assert cache.get("wechat:access_token:lock") is None  # released


def test_refresh_of_a_refused_token_is_forced_once():
    cache = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    client = SlowClient()
    holder = AccessTokenHolder(client, cache)  # type: ignore[arg-type]
    first = holder.get()
    second = holder.refresh(stale=first)
    # Another process finding the same stale token gets the new one, no new call.
    assert holder.refresh(stale=first) == second == "TOKEN-2"
    assert client.calls == [False, True]


def test_redis_down_asks_wechat_directly():
    class Down:
        def get(self, *a, **k):
            raise redis.exceptions.ConnectionError("down")

        def lock(self, *a, **k):
            raise redis.exceptions.ConnectionError("down")

    client = SlowClient()
    holder = AccessTokenHolder(client, Down())  # type: ignore[arg-type]
    assert holder.get() == "TOKEN-1"
    assert holder.refresh(stale="TOKEN-1") == "TOKEN-2"


def test_lock_held_elsewhere_without_a_token_is_unavailable():
    cache = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    cache.set("wechat:access_token:lock", b"someone-else", px=5000)
    holder = AccessTokenHolder(SlowClient(), cache, wait=0.2)  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        holder.get()
