"""The notification outbox: messages queued with the decision that caused them,
delivered after commit, retried with back-off, never lost and never sent twice.

`queue` writes the message in the caller's transaction. If a delivery hook is
installed (the API installs one that enqueues an RQ job), it is called after the
commit; if that job is lost (the process died, Redis was down), the message is
still `pending` and the next `deliver_pending` run sends it.

Delivering one message:
1. claim it: a conditional UPDATE sets a claim token and pushes `next_attempt_at`
   a lease ahead, only if the row is still pending and due; one sender wins, the
   others see zero rows changed and move on. The claim is committed before
   WeChat is called, so no database transaction is held open during the call.
2. send it, outside any transaction.
3. record the result with a conditional UPDATE on the claim token.
A sender that dies after claiming leaves the row pending; it is due again when
the lease ends. (Dying in the instant after WeChat accepted and before step 3
commits would send again after the lease: WeChat has no idempotency key, so the
outbox can narrow that window but not close it.)
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from points.i18n import translate_text, use_locale
from points.infra import hooks
from points.infra.db import dialect_insert, on_commit, utcnow
from points.infra.notify import SendResult
from points.models import User
from points.models.workflows import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = dt.timedelta(minutes=5)
FIRST_RETRY = dt.timedelta(minutes=1)
LONGEST_RETRY = dt.timedelta(hours=6)
BATCH = 100
THING_MAX, PHRASE_MAX = 20, 5  # WeChat's limits for `thing` and `phrase` fields
# Subscription messages are sent with lang zh_CN (points.infra.notify): their texts are Chinese.
NOTICE_LOCALE = "zh"


class Sender(Protocol):
    def send(self, openid: str, event: str, page: str | None, data: dict) -> SendResult: ...


def backoff(attempts: int) -> dt.timedelta:
    """1, 2, 4 … minutes after the 1st, 2nd, 3rd … failed attempt, at most 6 hours."""
    return min(FIRST_RETRY * (2 ** max(0, attempts - 1)), LONGEST_RETRY)


def thing(text: str | None) -> str:
    text = (text or "").strip() or "—"
    return text if len(text) <= THING_MAX else text[:THING_MAX - 1] + "…"


def phrase(text: str) -> str:
    return text[:PHRASE_MAX]


def message_data(subject: str, result: str, on: dt.date, note: str | None) -> dict[str, str]:
    """The four fields every one of our templates has (see points.infra.notify), in Chinese
    (the templates' language, whoever's request queued the message): `subject`, `result`
    and `note` are English messages (N_) or the people's own texts, kept as they are."""
    with use_locale(NOTICE_LOCALE):
        subject, result = translate_text(subject), translate_text(result)
        note = translate_text(note) if note else note
    return {"thing1": thing(subject), "phrase2": phrase(result), "date3": on.isoformat(),
            "thing4": thing(note)}


def queue(session: Session, *, user_id: int | None, event: str, dedupe_key: str,
          data: dict[str, str], page: str | None = None) -> int | None:
    """Queue a message in the caller's transaction; the id, or None if the same
    event was queued before (dedupe_key)."""
    now = utcnow()
    message_id = session.execute(dialect_insert(session, OutboxMessage).values(
        dedupe_key=dedupe_key, user_id=user_id, event=event, page=page, data=data,
        status="pending", attempts=0, next_attempt_at=now, created_at=now,
    ).on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)).scalar_one_or_none()
    hook = hooks.of(session).deliver  # after the commit, e.g. a delivery job
    if message_id is not None and hook is not None:
        on_commit(session, lambda: hook([message_id]))
    return message_id


def queue_many(session: Session, messages: list[dict]) -> list[int]:
    """`queue` for many messages (each a dict of user_id, event, dedupe_key, data,
    page) with one INSERT per chunk; the ids of those not queued before."""
    if not messages:
        return []
    now = utcnow()
    rows = [{"dedupe_key": m["dedupe_key"], "user_id": m["user_id"], "event": m["event"],
             "page": m.get("page"), "data": m["data"], "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now} for m in messages]
    ids: list[int] = []
    for i in range(0, len(rows), BATCH):
        ids += session.execute(dialect_insert(session, OutboxMessage).values(rows[i:i + BATCH])
                               .on_conflict_do_nothing(index_elements=["dedupe_key"])
                               .returning(OutboxMessage.id)).scalars().all()
    hook = hooks.of(session).deliver
    if ids and hook is not None:
        on_commit(session, lambda: hook(ids))
    return ids


def _due(session: Session, now: dt.datetime, ids: list[int] | None, limit: int) -> list[int]:
    stmt = (select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit))
    if ids is not None:
        stmt = stmt.where(OutboxMessage.id.in_(ids))
    return list(session.execute(stmt).scalars())


def _claim(session_factory: Callable[[], Session], message_id: int, now: dt.datetime
           ) -> tuple[str, OutboxMessage, str | None] | None:
    """(claim token, message, openid) if this sender won the message, else None."""
    token = uuid.uuid4().hex
    with session_factory() as session, session.begin():
        claimed = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending",
                   OutboxMessage.next_attempt_at <= now)
            .values(attempts=OutboxMessage.attempts + 1, next_attempt_at=now + LEASE,
                    claim_token=token)
            .execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            return None
        message = session.get(OutboxMessage, message_id)
        user = session.get(User, message.user_id) if message.user_id is not None else None
        openid = user.openid if user is not None and user.closed_at is None else None
        session.expunge(message)
    return token, message, openid


def _finish(session_factory: Callable[[], Session], message: OutboxMessage, token: str,
            result: SendResult, now: dt.datetime) -> str:
    """Record the attempt's result, only if this sender still holds the claim."""
    values: dict = {"claim_token": None, "last_error": result.detail}
    outcome = result.outcome
    if outcome == "sent":
        values.update(status="sent", sent_at=now)
    elif outcome in {"skipped", "failed"}:
        values.update(status=outcome)
    elif message.attempts >= MAX_ATTEMPTS:
        outcome = "failed"
        values.update(status="failed")
    else:
        values.update(next_attempt_at=now + backoff(message.attempts))
    with session_factory() as session, session.begin():
        done = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.status == "pending",
                   OutboxMessage.claim_token == token)
            .values(**values).execution_options(synchronize_session=False)).rowcount
    if done != 1:  # the lease ran out and another sender took over
        log.warning("outbox message %s: claim lost before its result was kept", message.id)
    return outcome


def deliver_pending(session_factory: Callable[[], Session], sender: Sender, *,
                    ids: list[int] | None = None, now: Callable[[], dt.datetime] = utcnow,
                    limit: int = BATCH) -> dict[str, int]:
    """Send every pending message that is due (or those of `ids` that are);
    returns how many were sent, skipped, failed, deferred (retry later) or taken
    by another sender."""
    counts = {"sent": 0, "skipped": 0, "failed": 0, "retry": 0, "claimed_elsewhere": 0}
    with session_factory() as session:
        due = _due(session, now(), ids, limit)
    for message_id in due:
        claim = _claim(session_factory, message_id, now())
        if claim is None:
            counts["claimed_elsewhere"] += 1
            continue
        token, message, openid = claim
        if openid is None:
            result = SendResult("skipped", "the account is closed or has no openid")
        else:
            try:
                result = sender.send(openid, message.event, message.page, message.data)
            except Exception as exc:  # a bug in sending must not lose the message
                log.exception("outbox message %s: sending failed", message_id)
                result = SendResult("retry", f"{type(exc).__name__}: {exc}"[:500])
        counts[_finish(session_factory, message, token, result, now())] += 1
    return counts
