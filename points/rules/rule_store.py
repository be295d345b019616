"""Rule-set versions in the database; the active one is what new scores use.

Parsed rule sets are cached per code in the process: a version's content never
changes once stored (a change is a new version with a new code)."""
from __future__ import annotations

import threading

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from points.errors import Conflict, NotFound
from points.i18n import gettext
from points.infra.db import dialect_insert, utcnow
from points.models import RuleSetVersion
from points.rules.rulesets import RuleSet, default_rule_set, parse_rule_set

_parsed: dict[str, RuleSet] = {}
_lock = threading.Lock()


def ensure_default(session: Session) -> None:
    """Store and activate the shipped rule set if the database has no active one."""
    if session.execute(select(RuleSetVersion.id).where(RuleSetVersion.active)).first():
        return
    shipped = default_rule_set()
    session.execute(dialect_insert(session, RuleSetVersion).values(code=shipped.code, content=shipped.to_dict(),
                                            active=False, created_at=utcnow())
                    .on_conflict_do_nothing(index_elements=["code"]))
    if not session.execute(select(RuleSetVersion.id).where(RuleSetVersion.active)).first():
        session.execute(update(RuleSetVersion).where(RuleSetVersion.code == shipped.code)
                        .values(active=True, activated_at=utcnow()))


def by_code(session: Session, code: str) -> RuleSet:
    cached = _parsed.get(code)
    if cached is not None:
        return cached
    content = session.execute(
        select(RuleSetVersion.content).where(RuleSetVersion.code == code)).scalar_one_or_none()
    if content is None:
        if code == default_rule_set().code:
            return default_rule_set()
        raise NotFound(gettext("no rule set {code!r}", code=code), "RULE_SET_NOT_FOUND")
    rule_set = parse_rule_set(content)
    with _lock:
        _parsed[code] = rule_set
    return rule_set


def known_types(session: Session) -> set[str]:
    """The record types of the active rule set (what a department may be allowed to send)."""
    return set(active(session).resolved_types)


def active(session: Session) -> RuleSet:
    code = session.execute(
        select(RuleSetVersion.code).where(RuleSetVersion.active)).scalar_one_or_none()
    if code is None:
        ensure_default(session)
        code = session.execute(
            select(RuleSetVersion.code).where(RuleSetVersion.active)).scalar_one()
    return by_code(session, code)


def store(session: Session, rule_set: RuleSet) -> RuleSetVersion:
    if session.execute(select(RuleSetVersion.id).where(RuleSetVersion.code == rule_set.code)).first():
        raise Conflict(gettext("a rule set {code!r} exists already; give the new version its own code", code=rule_set.code), "RULE_SET_EXISTS")
    version = RuleSetVersion(code=rule_set.code, content=rule_set.to_dict(), active=False,
                             created_at=utcnow())
    session.add(version)
    session.flush()
    return version


def activate(session: Session, code: str) -> RuleSetVersion:
    ensure_default(session)
    version = session.execute(
        select(RuleSetVersion).where(RuleSetVersion.code == code).with_for_update()
    ).scalar_one_or_none()
    if version is None:
        raise NotFound(gettext("no rule set {code!r}", code=code), "RULE_SET_NOT_FOUND")
    session.execute(update(RuleSetVersion).where(RuleSetVersion.active)
                    .values(active=False))
    version.active = True
    version.activated_at = utcnow()
    return version
