"""Telling people what happens to their credit: a notice in the app for every
kind the contract lists, and the same notice as a WeChat subscription message
through the outbox (points.infra.outbox) — WeChat sends it only where the person
subscribed to that template (43101 otherwise: the outbox marks it skipped).

A notice about a person's credit is addressed to their subject and delivered to
the account bound to it; one stored before any account is bound waits for the
binding (`claim`). Each notice has a dedupe key naming its event, so a retried
event never tells twice. Many notices (a batch of records, a recomputation after
a rule change) are written with one INSERT per chunk, not one per notice.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from points.errors import NotFound
from points.i18n import gettext
from points.infra import outbox
from points.infra.db import dialect_insert, utcnow
from points.models import Notification, User
from points.people import notice_text

CHUNK = 200
PAGES = {  # where the WeChat message opens the mini-program
    "record_negative": "pages/records/detail?id={ref_id}",
    "record_changed": "pages/records/detail?id={ref_id}",
    "level_changed": "pages/points/index",
    "credit_checked": "pages/access-log/index",
    "report_viewed": "pages/access-log/index",
    "repair_decided": "pages/repairs/detail?id={ref_id}",
    "objection_decided": "pages/objections/detail?id={ref_id}",
    "commitment_outcome": "pages/commitments/detail?id={ref_id}",
    "identity_moved": "pages/me/index",
}


@dataclass
class Notice:
    kind: str
    dedupe_key: str
    params: dict[str, Any]
    subject_id: int | None = None  # about this person's credit
    user_id: int | None = None  # or to this account
    ref: tuple[str, int] | None = None


def _bound_users(session: Session, subject_ids: Iterable[int]) -> dict[int, int]:
    ids = sorted(set(subject_ids))
    found: dict[int, int] = {}
    for i in range(0, len(ids), 500):
        found.update(session.execute(select(User.subject_id, User.id).where(
            User.subject_id.in_(ids[i:i + 500]), User.closed_at.is_(None))).all())
    return found


def send(session: Session, notices: list[Notice], today: dt.date) -> int:
    """Store the notices and queue their WeChat messages, in the caller's transaction;
    how many were new."""
    if not notices:
        return 0
    users = _bound_users(session, [n.subject_id for n in notices
                                   if n.user_id is None and n.subject_id is not None])
    now = utcnow()
    rows, by_key = [], {}
    for n in notices:
        user_id = n.user_id if n.user_id is not None else users.get(n.subject_id)
        rows.append({"user_id": user_id, "subject_id": n.subject_id, "kind": n.kind,
                     "params": n.params, "ref_type": n.ref[0] if n.ref else None,
                     "ref_id": n.ref[1] if n.ref else None, "dedupe_key": n.dedupe_key,
                     "created_at": now, "read_at": None})
        by_key[n.dedupe_key] = (n, user_id)
    created: list[str] = []
    for i in range(0, len(rows), CHUNK):
        created += session.execute(
            dialect_insert(session, Notification).values(rows[i:i + CHUNK])
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(Notification.dedupe_key)).scalars().all()
    messages = []
    for key in created:
        n, user_id = by_key[key]
        if user_id is None:
            continue
        page = PAGES[n.kind].format(ref_id=n.ref[1] if n.ref else "")
        messages.append({"user_id": user_id, "event": n.kind, "dedupe_key": key, "page": page,
                         "data": notice_text.wechat(n.kind, n.params, today)})
    outbox.queue_many(session, messages)
    return len(created)


def send_one(session: Session, notice: Notice, today: dt.date) -> int:
    return send(session, [notice], today)


def claim(session: Session, user_id: int, subject_id: int) -> int:
    """The person's notices follow their binding to this account."""
    return session.execute(
        update(Notification).where(Notification.subject_id == subject_id)
        .values(user_id=user_id).execution_options(synchronize_session=False)).rowcount or 0


def erase_account(session: Session, user: User) -> None:
    """A closed account's own notices go; those about the person's credit wait for
    the next account bound to the person."""
    session.execute(delete(Notification).where(Notification.user_id == user.id,
                                               Notification.subject_id.is_(None)))
    session.execute(update(Notification).where(Notification.user_id == user.id)
                    .values(user_id=None).execution_options(synchronize_session=False))


def mine_stmt(user_id: int, unread: bool | None):
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread is True:
        stmt = stmt.where(Notification.read_at.is_(None))
    elif unread is False:
        stmt = stmt.where(Notification.read_at.is_not(None))
    return stmt.order_by(Notification.id.desc())


def view(notification: Notification) -> dict[str, Any]:
    title, body = notice_text.render(notification.kind, notification.params)
    return {"id": notification.id, "kind": notification.kind, "title": title, "body": body,
            "created_at": notification.created_at, "read_at": notification.read_at,
            "ref": (None if notification.ref_type is None
                    else {"type": notification.ref_type, "id": notification.ref_id})}


def mark_read(session: Session, user_id: int, notification_id: int) -> None:
    """Mark one notice read (again: nothing changes)."""
    found = session.execute(select(Notification.id, Notification.read_at).where(
        Notification.id == notification_id, Notification.user_id == user_id)).first()
    if found is None:
        raise NotFound(gettext("no such notification"), "NOTIFICATION_NOT_FOUND")
    if found.read_at is None:
        session.execute(update(Notification).where(Notification.id == notification_id)
                        .values(read_at=utcnow()).execution_options(synchronize_session=False))


def mark_all_read(session: Session, user_id: int) -> int:
    return session.execute(
        update(Notification).where(Notification.user_id == user_id,
                                   Notification.read_at.is_(None))
        .values(read_at=utcnow()).execution_options(synchronize_session=False)).rowcount or 0


def close_decided(session: Session, item, *, kind: str, status: str, by: str,
                  note: str | None, today: dt.date, title: str, answer: str,
                  sender: str) -> None:
    """Close a decided repair application or objection (same decision columns on
    both) and tell the resident in the same transaction."""
    item.status = status
    item.decided_on = today
    item.decision_note = note
    item.decided_by = by
    item.closed_at = utcnow()
    send_one(session, Notice(
        kind=f"{kind}_decided", dedupe_key=f"{kind}:{item.id}:decided", user_id=item.user_id,
        subject_id=item.subject_id, ref=(kind, item.id),
        params={"title": title, "answer": answer, "note": note, "department": sender,
                "status": status}), today)
