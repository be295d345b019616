"""The current score of each subject, cached in Redis.

Each stored score has a version that grows with every change; the cache keeps a
value only if it is newer than the one it holds (checked atomically by a small
Lua script), so two writers committing in one order and reaching Redis in the
other can never leave the older score behind. Many scores are written in one
pipeline: one round trip per batch, not per subject. Redis may lose it all: the
database rebuilds it on the next read.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable

import redis

log = logging.getLogger(__name__)
TTL_SECONDS = 6 * 3600
# KEYS[1] the score key; ARGV: version, body, ttl. Keeps the newer version only.
_PUT_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'body', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


# Scores this process could not write while Redis was unreachable. Redis may still
# hold older values for them (a partition, not a restart), so they are deleted as
# soon as Redis answers again; until then reads of them go to the database anyway
# because every read first tries Redis and fails.
_pending: set[int] = set()
_pending_lock = threading.Lock()


KEY_PREFIX = "score:"  # a hash: v (version), body (JSON); api/gate.py reads it too


def _key(subject_id: int) -> str:
    return f"{KEY_PREFIX}{subject_id}"


def _repair(client: redis.Redis) -> None:
    if not _pending:
        return
    with _pending_lock:
        stale = list(_pending)
        _pending.clear()
    try:
        client.delete(*[_key(s) for s in stale])
    except redis.exceptions.RedisError:
        with _pending_lock:
            _pending.update(stale)
        raise


def get(client: redis.Redis, subject_id: int) -> dict | None:
    try:
        _repair(client)
        raw = client.hget(_key(subject_id), "body")
    except redis.exceptions.RedisError:
        log.warning("score cache unavailable; reading the database")
        return None
    return None if raw is None else json.loads(raw)


def prefetched(client: redis.Redis, subject_id: int, raw: bytes | None) -> dict | None:
    """A body read in another round trip (the account check of api/gate.py): trusted
    unless this process still has stale entries to repair, then read again."""
    if _pending:
        return get(client, subject_id)
    return None if raw is None else json.loads(raw)


def put_many(client: redis.Redis, scores: Iterable[tuple[int, int, dict]]) -> None:
    """Cache (subject_id, version, body) triples, each only if newer than what is there."""
    scores = list(scores)
    try:
        _repair(client)
        script = client.register_script(_PUT_IF_NEWER)
        with client.pipeline(transaction=False) as pipe:
            for subject_id, version, body in scores:
                script(keys=[_key(subject_id)],
                       args=[version, json.dumps(body, ensure_ascii=False, default=str),
                             TTL_SECONDS], client=pipe)
            pipe.execute()
    except redis.exceptions.RedisError:
        log.warning("score cache unavailable; the database holds the scores")
        with _pending_lock:
            _pending.update(subject_id for subject_id, _, _ in scores)


def put(client: redis.Redis, subject_id: int, version: int, body: dict) -> None:
    put_many(client, [(subject_id, version, body)])

