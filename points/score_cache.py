"""The current score of each subject, cached in Redis.

Each stored score has a version that grows with every change; the cache keeps a
value only if it is newer than the one it holds, so two writers committing in one
order and reaching Redis in the other can never leave the older score behind.
Redis may lose it all: the database rebuilds it on the next read.
"""
from __future__ import annotations

import json
import logging

import redis

log = logging.getLogger(__name__)
TTL_SECONDS = 24 * 3600


def _key(subject_id: int) -> str:
    return f"score:{subject_id}"


def get(client: redis.Redis, subject_id: int) -> dict | None:
    try:
        raw = client.hget(_key(subject_id), "body")
    except redis.exceptions.RedisError:
        log.warning("score cache unavailable; reading the database")
        return None
    return None if raw is None else json.loads(raw)


def put(client: redis.Redis, subject_id: int, version: int, body: dict) -> None:
    key = _key(subject_id)
    payload = json.dumps(body, ensure_ascii=False, default=str)
    try:
        with client.pipeline() as pipe:
            for _ in range(3):
                try:
                    pipe.watch(key)
                    current = pipe.hget(key, "v")
                    if current is not None and int(current) > version:
                        pipe.unwatch()
                        return
                    pipe.multi()
                    pipe.hset(key, mapping={"v": version, "body": payload})
                    pipe.expire(key, TTL_SECONDS)
                    pipe.execute()
                    return
                except redis.exceptions.WatchError:
                    continue
            client.delete(key)  # contended: let the next read rebuild it
    except redis.exceptions.RedisError:
        log.warning("score cache unavailable; the database holds the score")


def drop(client: redis.Redis, subject_id: int) -> None:
    try:
        client.delete(_key(subject_id))
    except redis.exceptions.RedisError:
        log.warning("score cache unavailable; could not drop a cached score")
