"""Access tokens (JWT), refresh tokens and the denylist.

Access tokens are HS256 JWTs with every registered claim required and checked,
and a `kid` header naming the signing key so the key can rotate while tokens
signed with the previous one are still accepted for a grace period. Refresh
tokens are opaque, stored hashed, and rotated on every use; presenting a spent
one revokes the whole family (it was stolen or replayed).

An access token names its refresh family (`fam`): when the family ends (logout, or
a spent refresh token presented again) every access token of it stops working at
once. Whether a family has ended is cached in Redis (`fam:<family>`, 1 or 0) and
read in the same round trip as the denylist; the refresh-token rows are the truth.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import redis
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from api.extensions import thread_local_command
from points.errors import Unauthenticated
from points.i18n import gettext
from points.infra.crypto import hash_token
from points.infra.db import utcnow
from points.models import AdminAccount, RefreshToken, RevokedToken, User

log = logging.getLogger(__name__)
REQUIRED_CLAIMS = ["iss", "aud", "sub", "jti", "iat", "nbf", "exp"]
VERIFIED_CACHE_SIZE = 5_000


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header (None: no such header). The one
    place a bearer header is read."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def account_of(principal: str,
               kinds: frozenset[str] = frozenset({"user", "admin"})) -> tuple[str, int] | None:
    """(kind, id) of a principal `user:1` / `admin:1` (a token's `sub`, a refresh
    token's owner; a console session's `admin:1` / `clerk:1` with `CONSOLE_KINDS`);
    None if it names no account of those kinds. The one place such a name is read."""
    kind, _, ident = principal.partition(":")
    if kind not in kinds or not (ident.isascii() and ident.isdigit()):
        return None
    return kind, int(ident)


CONSOLE_KINDS = frozenset({"admin", "clerk"})


def key_id(secret: str) -> str:
    return hashlib.sha256(b"kid:" + secret.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def as_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "expires_in": self.expires_in, "token_type": "Bearer"}


class TokenService:
    def __init__(self, config: dict, redis_client: redis.Redis) -> None:
        self.issuer = config["JWT_ISSUER"]
        self.audience = config["JWT_AUDIENCE"]
        self.access_ttl = config["ACCESS_TOKEN_TTL"]
        self.refresh_ttl = config["REFRESH_TOKEN_TTL"]
        self.current_key = config["SECRET_KEY"]
        self.keys = {key_id(k): k for k in [self.current_key, *config["SECRET_KEY_PREVIOUS"]]}
        self.redis = redis_client
        self._verified: dict[str, dict[str, Any]] = {}
        self._mget_of: tuple[Any, Callable[[list[str]], list]] | None = None

    def _mget(self, keys: list[str]) -> list:
        """MGET on the calling thread's own connection to `self.redis`
        (`thread_local_command`: cheaper than the pool's bookkeeping on every request);
        made again if `self.redis` was replaced."""
        made = self._mget_of
        if made is None or made[0] is not self.redis:
            client = self.redis
            if hasattr(client, "connection_pool"):
                command = thread_local_command(client)
                made = (client, lambda keys: command("MGET", *keys))
            else:  # not a redis-py client (a stand-in): its own mget
                made = (client, client.mget)
            self._mget_of = made
        return made[1](keys)

    # -- access tokens -------------------------------------------------------
    def issue_access(self, principal: str, role: str, now: dt.datetime | None = None,
                     family: str | None = None) -> str:
        now = now or utcnow()
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": principal,
            "role": role,
            "jti": uuid.uuid4().hex,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(now.timestamp()) + self.access_ttl,
        }
        if family is not None:
            claims["fam"] = family
        return jwt.encode(claims, self.current_key, algorithm="HS256",
                          headers={"kid": key_id(self.current_key)})

    def decode_access(self, token: str) -> dict[str, Any]:
        """Verified claims. A token verified before is taken from a small in-process
        cache (a resident's app repeats the same token for its 15 minutes), but its
        time claims are checked again on every use."""
        cached = self._verified.get(token)
        if cached is not None:
            now = time.time()
            if cached["exp"] + 5 <= now:
                raise Unauthenticated(gettext("the access token has expired"))
            if cached["nbf"] - 5 > now:
                raise Unauthenticated(gettext("the access token is not valid yet"))
            return cached
        claims = self._decode(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()  # crude but bounded; refills within seconds
        self._verified[token] = claims
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            key = self.keys.get(header.get("kid", ""))
            if key is None:
                raise Unauthenticated(gettext("the token was signed with an unknown key"))
            return jwt.decode(
                token, key, algorithms=["HS256"], audience=self.audience, issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS}, leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated(gettext("the access token has expired")) from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(gettext("the access token is not valid")) from exc

    # -- denylist --------------------------------------------------------------
    def revoke_access(self, session: Session, claims: dict[str, Any]) -> None:
        expires = dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
        session.merge(RevokedToken(jti=claims["jti"], expires_at=expires))
        ttl = max(1, int(claims["exp"] - utcnow().timestamp()) + 5)
        # Redis is the fast path; the row above is the truth if Redis loses it.
        from points.infra.db import on_commit

        on_commit(session, lambda: self._safe_redis(self.redis.set, f"deny:{claims['jti']}", 1,
                                                    ex=ttl))

    def end_family(self, session: Session, family: str, now: dt.datetime | None = None) -> None:
        """The session ends: its refresh tokens are revoked, and once that is committed
        its access tokens stop working (the cached `fam:` flag, set whatever a
        concurrent check cached before)."""
        session.execute(update(RefreshToken)
                        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=now or utcnow()))
        from points.infra.db import on_commit

        on_commit(session, lambda: self._safe_redis(self.redis.set, f"fam:{family}", 1,
                                                    ex=self.access_ttl + 60))

    def logout(self, session: Session, claims: dict[str, Any]) -> None:
        """This access token on the denylist, and its session (refresh family) ended."""
        self.revoke_access(session, claims)
        if claims.get("fam"):
            self.end_family(session, claims["fam"])

    def cut_user_tokens(self, session: Session, user: User) -> None:
        """Every token of this user issued before now stops working."""
        now = utcnow()
        user.tokens_valid_after = now
        session.execute(update(RefreshToken)
                        .where(RefreshToken.principal == f"user:{user.id}",
                               RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=now))
        from points.infra.db import on_commit

        on_commit(session, lambda: self._safe_redis(
            self.redis.set, f"cut:user:{user.id}", int(now.timestamp()), ex=self.access_ttl + 60))

    def check(self, session_of: Callable[[], Session], claims: dict[str, Any],
              extra_keys: tuple[str, ...] = (),
              fetch: Callable[[list[str]], list] | None = None) -> tuple[bool, list | None]:
        """(revoked?, values of `extra_keys` or None if Redis did not answer), in one
        Redis round trip: `fetch` (MGET unless given) reads the keys. The database
        session is only opened (`session_of()`) when Redis cannot answer alone.

        The denylist entry of this token and the account's cut-off time (tokens
        issued before it are dead) come from Redis; a missing cut-off is read from
        the database once and cached (SET NX, so it never overwrites a newer cut-off
        written by an account closure). The token's refresh family is checked the same
        way (`fam:`, after `extra_keys`: its value is not among those returned). With
        Redis down, the database answers."""
        principal = claims["sub"]
        family = claims.get("fam")
        keys = [f"deny:{claims['jti']}", f"cut:{principal}", *extra_keys]
        if family:
            keys.append(f"fam:{family}")
        try:
            denied, cut, *extra = (fetch or self._mget)(keys)
        except redis.exceptions.RedisError:
            log.warning("redis unavailable; checking the denylist in the database")
            if session_of().get(RevokedToken, claims["jti"]) is not None:
                return True, None
            if family and self._family_ended_in_db(session_of(), family):
                return True, None
            cut_at = self._user_cut_in_db(session_of(), principal)
            return cut_at is not None and claims["iat"] <= cut_at, None
        if family:
            ended = extra.pop(len(extra_keys))  # after the extra keys' values
            if ended is None:
                ended = int(self._family_ended_in_db(session_of(), family))
                self._safe_redis(self.redis.set, f"fam:{family}", ended, nx=True,
                                 ex=self.access_ttl + 60)
            if int(ended):
                return True, extra
        if denied is not None:
            return True, extra
        if cut is None:
            cut_at = self._user_cut_in_db(session_of(), principal)
            self._safe_redis(self.redis.set, f"cut:{principal}", cut_at or 0, nx=True,
                             ex=self.access_ttl + 60)
        else:
            cut_at = int(cut) or None
        return cut_at is not None and claims["iat"] <= cut_at, extra

    @staticmethod
    def _family_ended_in_db(session: Session, family: str) -> bool:
        return session.execute(select(exists().where(
            RefreshToken.family == family, RefreshToken.revoked_at.is_not(None)))).scalar_one()

    @staticmethod
    def _user_cut_in_db(session: Session, principal: str) -> int | None:
        """The account's token cut-off (epoch seconds) or None; admins have none."""
        account = account_of(principal)
        if account is None or account[0] != "user":
            return None
        cut_after = session.execute(
            select(User.tokens_valid_after).where(User.id == account[1])).scalar_one_or_none()
        return int(cut_after.timestamp()) if cut_after is not None else None

    @staticmethod
    def _safe_redis(fn, *args, **kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except redis.exceptions.RedisError:
            log.warning("redis unavailable; the database copy stands in")

    # -- refresh tokens -------------------------------------------------------
    def issue_pair(self, session: Session, principal: str, role: str,
                   family: str | None = None) -> TokenPair:
        refresh = "rt_" + secrets.token_urlsafe(32)
        now = utcnow()
        family = family or uuid.uuid4().hex
        session.add(RefreshToken(
            token_hash=hash_token(refresh),
            family=family,
            principal=principal,
            issued_at=now,
            expires_at=now + dt.timedelta(seconds=self.refresh_ttl),
        ))
        return TokenPair(self.issue_access(principal, role, now, family), refresh,
                         self.access_ttl)

    def refresh(self, session: Session, refresh_token: str) -> TokenPair:
        row = session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(refresh_token or ""))
            .with_for_update()
        ).scalar_one_or_none()
        now = utcnow()
        if row is None:
            raise Unauthenticated(gettext("unknown refresh token"))
        if row.spent_at is not None or row.revoked_at is not None:
            # Reuse of a spent token: end the whole family (its access tokens too),
            # and keep that change even though the request fails.
            self.end_family(session, row.family, now)
            raise Unauthenticated(gettext("refresh token reused; the session has been ended"),
                                  commit=True)
        if row.expires_at <= now:
            raise Unauthenticated(gettext("the refresh token has expired"))
        account = account_of(row.principal)
        if account is None:
            raise Unauthenticated(gettext("unknown refresh token"))
        kind, ident = account
        if kind == "admin":
            admin = session.get(AdminAccount, ident)
            if admin is None or not admin.active:
                raise Unauthenticated(gettext("the admin account is disabled"))
        row.spent_at = now
        # `user:1` signs in as a resident (merchant staff are residents too); `admin:1` as admin.
        role = "admin" if kind == "admin" else "resident"
        return self.issue_pair(session, row.principal, role, family=row.family)
