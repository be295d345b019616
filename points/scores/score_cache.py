"""The current score of each subject, cached in Redis.

Each stored score has a version that grows with every change; the cache keeps a
value only if it is newer than the one it holds (checked atomically by a small
Lua script), so two writers committing in one order and reaching Redis in the
other can never leave the older score behind. Many scores are written in one
pipeline: one round trip per batch, not per subject. Redis may lose it all: the
database rebuilds it on the next read.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import orjson
import redis

log = logging.getLogger(__name__)
TTL_SECONDS = 6 * 3600
# KEYS: the score keys; ARGV: ttl, then version and body for each key in turn. Each
# key keeps the newer version only; returns how many were written.
_PUT_IF_NEWER = """
local ttl, written = ARGV[1], 0
for i, key in ipairs(KEYS) do
  local version = ARGV[2 * i]
  local current = redis.call('HGET', key, 'v')
  if not current or tonumber(current) <= tonumber(version) then
    redis.call('HSET', key, 'v', version, 'body', ARGV[2 * i + 1])
    redis.call('EXPIRE', key, ttl)
    written = written + 1
  end
end
return written
"""
# Scores per script call: one call per batch rather than one per score (the batch
# recompute caches a million), small enough not to hold Redis up for long.
_BATCH = 500


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
    return None if raw is None else orjson.loads(raw)


def prefetched(client: redis.Redis, subject_id: int, raw: bytes | None) -> dict | None:
    """A body read in another round trip (the account check of api/gate.py): trusted
    unless this process still has stale entries to repair, then read again."""
    if _pending:
        return get(client, subject_id)
    return None if raw is None else orjson.loads(raw)


def put_many(client: redis.Redis, scores: Iterable[tuple[int, int, dict | bytes]]) -> None:
    """Cache (subject_id, version, body) triples, each only if newer than what is there.
    A body is a JSON-ready dict or its JSON already encoded (scoring.cache_body)."""
    scores = list(scores)
    try:
        _repair(client)
        script = client.register_script(_PUT_IF_NEWER)
        with client.pipeline(transaction=False) as pipe:
            for start in range(0, len(scores), _BATCH):
                batch = scores[start:start + _BATCH]
                args: list[object] = [TTL_SECONDS]
                for _, version, body in batch:
                    args += (version, body if isinstance(body, bytes) else orjson.dumps(body))
                script(keys=[_key(subject_id) for subject_id, _, _ in batch], args=args,
                       client=pipe)
            pipe.execute()
    except redis.exceptions.RedisError:
        log.warning("score cache unavailable; the database holds the scores")
        with _pending_lock:
            _pending.update(subject_id for subject_id, _, _ in scores)


def put(client: redis.Redis, subject_id: int, version: int, body: dict) -> None:
    put_many(client, [(subject_id, version, body)])

