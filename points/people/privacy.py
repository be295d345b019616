"""What the Personal Information Protection Law gives every resident: closing the
account erases the account's data, while the credit records that the law requires
to be kept stay with the credit subject (a new account binding the same ID number
sees them again)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from points.infra import hooks
from points.infra.db import utcnow
from points.models import AccessLogEntry, Consent, User
from points.models.workflows import Commitment


def close_account(session: Session, user: User) -> None:
    # What other modules hold about the account (report shares, staff seats, evidence
    # files, the answers kept for its retried writes …) goes with it: the app's hooks
    # (points.infra.hooks).
    for erase in hooks.of(session).account_erasers:
        erase(session, user)
    session.execute(delete(Consent).where(Consent.user_id == user.id))
    # The person's public commitments leave the public list (they stay with the credit
    # subject, unpublished).
    mine = Commitment.user_id == user.id
    if user.subject_id is not None:
        mine = or_(mine, Commitment.subject_id == user.subject_id)
    session.execute(update(Commitment).where(mine, Commitment.public.is_(True))
                    .values(public=False))
    user.openid = None
    user.name_enc = None
    user.phone_enc = None
    user.subject_id = None
    user.unverified_subject_id = None
    user.identity_bound_at = None
    user.identity_verified_at = None
    user.closed_at = utcnow()
    from points.people.accounts import account_changed

    account_changed(session, user.id)


def purge_access_log(session: Session, today: dt.date, retention_days: int) -> int:
    cutoff = dt.datetime.combine(today - dt.timedelta(days=retention_days), dt.time(),
                                 dt.UTC)
    result = session.execute(delete(AccessLogEntry).where(AccessLogEntry.at < cutoff))
    return result.rowcount or 0
