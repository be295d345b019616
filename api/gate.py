"""What the resident's points read needs to know about the account — its standing
(points.people.eligibility: its subject, the credit_points consent, the date it turns 18) —
cached in Redis, so a cached points read makes no database round trip. The rules
that decide on it are the domain's (`eligibility.refusal`); this module only caches.

The entry is read in the same Redis round trip as the token's denylist check
(api/access.py), together with the account's gate version. Every commit that
changes the account (identity binding, consent, closure) bumps that version
(`account_changed`, one of the app's `Hooks.account_changed`, api/bootstrap.py), and
an entry made under an older version is ignored — so a read racing a consent
withdrawal can never leave the old answer cached.
"""
from __future__ import annotations

import datetime as dt
import json
import logging

import orjson
import redis
from sqlalchemy.orm import Session

from api.context import state_if_any
from api.extensions import thread_local_command
from points.infra.crypto import DataCipher
from points.infra.db import on_commit
from points.models import User
from points.people import eligibility
from points.scores import score_cache

log = logging.getLogger(__name__)
TTL_SECONDS = 3600
# The entry's shape. Entries cached before face verification named the subject of an
# unverified binding; made under another format, they are never used (a miss).
FORMAT = 2

# KEYS: what the token check reads (denylist, cut-off, then this gate's entry and
# version); ARGV[1]: the score key prefix. Returns those values and, last, the cached
# score body of the subject the gate entry names — the whole cached points read in
# one round trip. The score key is found from the entry's value, so this needs one
# Redis primary (Sentinel), not Redis Cluster (docs/scaling.md).
_WITH_SCORE = """
local values = redis.call('MGET', unpack(KEYS))
local body = false
local entry = values[3]
if entry then
  local subject = cjson.decode(entry)['subject_id']
  if type(subject) == 'number' then
    body = redis.call('HGET', ARGV[1] .. string.format('%d', subject), 'body')
  end
end
values[#KEYS + 1] = body
return values
"""


def fetch_with_score(client: redis.Redis):
    """A `fetch(keys)` for the token check that also returns the cached score body.

    Against a Redis server it runs on a connection of the calling thread's own
    (`thread_local_command`). Errors are redis-py's, so callers handle them as before."""
    script = client.register_script(_WITH_SCORE)
    command = thread_local_command(client)

    def fetch(keys: list[str]) -> list:
        try:
            return command("EVALSHA", script.sha, len(keys), *keys, score_cache.KEY_PREFIX)
        except redis.exceptions.NoScriptError:  # a restarted or flushed server
            command("SCRIPT", "LOAD", _WITH_SCORE)
            return command("EVALSHA", script.sha, len(keys), *keys, score_cache.KEY_PREFIX)

    return fetch


def keys(principal: str) -> tuple[str, str]:
    """(entry, version) keys for `user:<id>`."""
    return f"gate:{principal}", f"gatever:{principal}"


def compute(session: Session, cipher: DataCipher, user: User, version: int) -> dict:
    """The entry to cache: the account's standing (points.people.eligibility) under `version`."""
    account = eligibility.standing(session, cipher, user)
    return {
        "format": FORMAT,
        "version": version,
        "subject_id": account.subject_id,
        "credit_points": account.credit_points,
        "adult_from": account.adult_from.isoformat() if account.adult_from else None,
    }


def usable(raw: bytes | None, version: bytes | None) -> dict | None:
    """The cached entry if it was made under the current version."""
    if raw is None:
        return None
    entry = orjson.loads(raw)
    if entry.get("format") != FORMAT or entry.get("version") != int(version or 0):
        return None
    return entry


def standing(entry: dict) -> eligibility.Standing:
    """The account's standing as a usable entry holds it, for `eligibility.refusal`."""
    adult_from = entry["adult_from"]
    return eligibility.Standing(entry["subject_id"], entry["credit_points"],
                                dt.date.fromisoformat(adult_from) if adult_from else None)


def store(client: redis.Redis, session: Session, user_id: int, gate: dict) -> None:
    def write() -> None:
        try:
            client.set(keys(f"user:{user_id}")[0], json.dumps(gate), ex=TTL_SECONDS)
        except redis.exceptions.RedisError:
            log.warning("redis unavailable; the account gate is not cached")

    on_commit(session, write)


def account_changed(session: Session, user_id: int) -> None:
    """Bump the account's gate version after the commit (api/bootstrap.py makes it
    one of the app's `account_changed` hooks, points.infra.hooks)."""
    credit = state_if_any()
    if credit is None:
        return  # a script outside the app: there is no cache to keep in step
    client = credit.redis

    def bump() -> None:
        try:
            client.incr(keys(f"user:{user_id}")[1])
        except redis.exceptions.RedisError:
            # Redis is unreachable: the gate entry cannot be read either, and it
            # expires within the hour. Drop it as soon as possible.
            log.warning("redis unavailable; the account gate expires by itself")

    on_commit(session, bump)
