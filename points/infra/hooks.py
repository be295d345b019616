"""What the app asks the domain to do beside the domain's own work, one set per app.

api/bootstrap.py makes one `Hooks` for the app and puts it on the app's session
factories, so every session of that app carries its own app's hooks
(`Session.info`); the domain reads them from the session it works in. A session made
outside an app (a script, a test's own `Session`) carries none: the domain's own work
still happens and nothing else is told, but what the domain must ask through them (a
merchant's name) raises rather than answer "none"."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from points.models import User

KEY = "credit.hooks"


@dataclass(frozen=True)
class Hooks:
    # What other modules hold about an account (report shares, staff seats, evidence
    # files …): erased with it (points.people.privacy.close_account).
    account_erasers: tuple[Callable[[Session, User], None], ...] = ()
    # An account lost its credit file to a verified binding elsewhere: what was issued
    # on it goes, e.g. unused verification codes (points.people.face).
    identity_removed: tuple[Callable[[Session, User], None], ...] = ()
    # An account's identity or consents changed (its id): caches of them are dropped
    # once the change commits (points.people.accounts.account_changed).
    account_changed: tuple[Callable[[Session, int], None], ...] = ()
    # A commit queued WeChat messages (their ids): e.g. a delivery job is enqueued
    # (points.infra.outbox).
    deliver: Callable[[list[int]], None] | None = None
    # A merchant's name (incentives' merchants), None if there is no such merchant: a
    # worker's employer (points.employment.worker_profiles).
    merchant_name: Callable[[Session, int], str | None] | None = None


NONE = Hooks()


def install(factory: sessionmaker, hooks: Hooks) -> None:
    """Every session `factory` makes from now on carries `hooks`."""
    factory.configure(info={KEY: hooks})


def of(session: Session) -> Hooks:
    """The hooks of the app whose session this is (NONE outside an app)."""
    return session.info.get(KEY, NONE)
