"""Credit reports a worker shares with a client (e.g. a family hiring a housekeeper).

Creating a share is the worker's consent to show the report to whoever holds the
link until it expires or is revoked, so the worker's `credit_points` consent is not
asked for here. The report shows the level, never the points; masked name and ID
number; the safety code and certificates; the negative records counting today
(type, title, class, date: nothing about other people); and the review summary.
Every view by someone other than the worker is written to the worker's access log.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from points.employment.qr import qr_svg
from points.employment.worker_profiles import employer_of, profile_of, status_of
from points.errors import Conflict, Forbidden, Gone, NotFound
from points.i18n import gettext
from points.infra.crypto import DataCipher, hash_token
from points.infra.db import SHANGHAI, dialect_insert, utcnow
from points.models import AccessLogEntry, User
from points.models.workers import ReportReview, ReportShare
from points.people import accounts, notifications
from points.people.identity import mask_id_number, mask_name
from points.recordkeeping import records
from points.rules import rule_store
from points.scores import scoring

MAX_TTL_MINUTES = 24 * 60
VIEWER_KIND = "report_viewer"
VIEW_PURPOSE = "credit_report"


@dataclass(frozen=True)
class NewShare:
    share: ReportShare
    token: str
    url: str
    qr_svg: str


def report_url(base_url: str, token: str) -> str:
    """The link a family opens: the web page `GET /r/{token}` (which WeChat can also
    open in the mini-program, docs/worker-report.md)."""
    return f"{base_url.rstrip('/')}/r/{token}"


def report_number(share: ReportShare) -> str:
    """The number printed on the report: the day the link was made and the share's
    id, so the credit office finds the share (and its access log) from a printout."""
    created = share.created_at.astimezone(SHANGHAI)
    return f"CSXY-{created:%Y%m%d}-{share.id:08d}"


def create_share(session: Session, user: User, ttl_minutes: int, base_url: str) -> NewShare:
    """A new share of the worker's report; the token is shown only this once. Only a
    worker (someone who declared an occupation) has a report to share."""
    if profile_of(session, user.id) is None:
        raise Conflict(gettext("only a worker's credit report can be shared: declare your occupation "
                       "first (PUT /v1/me/worker-profile)"), "NOT_A_WORKER")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    share = ReportShare(user_id=user.id, subject_id=user.subject_id, token_hash=hash_token(token),
                        token_hint=token[:6], created_at=now,
                        expires_at=now + dt.timedelta(minutes=ttl_minutes), views=0)
    session.add(share)
    session.flush()
    url = report_url(base_url, token)
    return NewShare(share, token, url, qr_svg(url, title="长沙市个人信用报告"))


SHARE_STATES = ("active", "expired", "revoked")


def share_state(share: ReportShare, now: dt.datetime) -> str:
    if share.revoked_at is not None:
        return "revoked"
    return "expired" if share.expires_at <= now else "active"


def shares_stmt(user_id: int):
    return (select(ReportShare).where(ReportShare.user_id == user_id)
            .order_by(ReportShare.id.desc()))


def revoke_share(session: Session, user: User, token_or_id: str) -> ReportShare:
    """Revoke by the token itself or by the share's id (as listed): a worker who no
    longer has the token can still end the share."""
    stmt = select(ReportShare).where(ReportShare.user_id == user.id)
    if token_or_id.isascii() and token_or_id.isdigit() and len(token_or_id) < 19:
        stmt = stmt.where(ReportShare.id == int(token_or_id))
    else:
        stmt = stmt.where(ReportShare.token_hash == hash_token(token_or_id))
    share = session.execute(stmt.with_for_update()).scalar_one_or_none()
    if share is None:
        raise NotFound(gettext("no such report share"), "SHARE_NOT_FOUND")
    if share.revoked_at is None:
        share.revoked_at = utcnow()
    return share


def open_share(session: Session, token: str) -> ReportShare:
    """The share of this token while it is valid: unknown → 404, ended → 410."""
    share = session.execute(select(ReportShare).where(
        ReportShare.token_hash == hash_token(token))).scalar_one_or_none()
    if share is None:
        raise NotFound(gettext("no such credit report"), "SHARE_NOT_FOUND")
    worker = session.get(User, share.user_id)
    if (share_state(share, utcnow()) != "active" or worker is None
            or worker.closed_at is not None or worker.subject_id != share.subject_id):
        raise Gone(gettext("this credit report link has expired or was revoked"), "SHARE_EXPIRED")
    return share


def _reference(share: ReportShare) -> str:
    return f"report_share:{share.id}"


def view_report(session: Session, cache: redis.Redis, cipher: DataCipher, token: str,
                viewer_id: int | None, today: dt.date) -> dict[str, Any]:
    """The report behind a token, logged in the worker's access log (the worker
    looking at their own report is not someone else reading their credit).
    `viewer_id` is None for whoever opens the web page: the link is the
    authorisation, so the log says a holder of this link read the report."""
    share = open_share(session, token)
    if viewer_id is None or viewer_id != share.user_id:
        entry = accounts.record_access(session, share.subject_id, VIEWER_KIND, VIEW_PURPOSE,
                                       actor_id=None if viewer_id is None else str(viewer_id),
                                       reference=_reference(share))
        session.flush()
        notifications.send_one(session, notifications.Notice(
            kind="report_viewed", dedupe_key=f"report_view:{entry.id}",
            subject_id=share.subject_id, ref=("report_share", share.id),
            params={"report_no": report_number(share)}), today)
        session.execute(update(ReportShare).where(ReportShare.id == share.id).values(
            views=ReportShare.views + 1, last_viewed_at=utcnow()))
    return build_report(session, cache, cipher, share, today)


def review_summary(session: Session, subject_id: int) -> dict[str, Any]:
    count, average = session.execute(
        select(func.count(ReportReview.id), func.avg(ReportReview.rating))
        .where(ReportReview.subject_id == subject_id)).one()
    return {"count": count, "average": None if average is None else round(float(average), 1)}


def build_report(session: Session, cache: redis.Redis, cipher: DataCipher, share: ReportShare,
                 today: dt.date) -> dict[str, Any]:
    worker = session.get(User, share.user_id)
    subject = worker.subject
    name = cipher.decrypt(worker.name_enc) if worker.name_enc else ""
    status = status_of(session, share.subject_id, today)
    profile = profile_of(session, worker.id)
    # The worker's statement (说明) goes with each record, when there is one.
    negatives = [{"type": r["type"], "title": r["title"], "class": r["class"],
                  "decided_on": r["decided_on"], "counted_until": r["counted_until"],
                  "department": r["department"], "document_no": r["document_no"],
                  "statement": r["statement"]}
                 for r in records.subject_records(session, share.subject_id, today)
                 if r["kind"] == "negative" and r["counting"]]
    scale = rule_store.active(session).public_view()
    level = scoring.current_points(session, cache, share.subject_id, today)["level"]
    return {
        "name_masked": mask_name(name),
        "id_number_masked": mask_id_number(cipher.decrypt(subject.id_number_enc)),
        "occupation": profile.occupation if profile else None,
        "employer": employer_of(session, profile),
        "safety_code": status["safety_code"],
        "identity": status["identity"],
        "background": status["background"],
        "health_certificate": status["health_certificate"],
        "insurance": status["insurance"],
        "training": status["training"],
        "skill_certificates": status["skill_certificates"],
        "licenses": status["licenses"],
        "level": level,
        "level_title": next((lv["title"] for lv in scale["levels"] if lv["name"] == level),
                            None),
        # What the page and the PDF explain the level with (not part of the JSON).
        "level_scale": {"base": scale["base"], "levels": scale["levels"]},
        "negative_records": negatives,
        "reviews": review_summary(session, share.subject_id),
        "as_of": today,
        "expires_at": share.expires_at,
        "report_no": report_number(share),
    }


def add_review(session: Session, token: str, viewer_id: int, rating: int,
               comment: str | None) -> ReportReview:
    """One review per viewer per share, by someone who opened the report. A review
    never changes points: a department turns a verified complaint into a record."""
    share = open_share(session, token)
    if viewer_id == share.user_id:
        raise Forbidden(gettext("you cannot review yourself"), "SELF_REVIEW")
    opened = session.execute(select(AccessLogEntry.id).where(
        AccessLogEntry.subject_id == share.subject_id, AccessLogEntry.actor_kind == VIEWER_KIND,
        AccessLogEntry.actor_id == str(viewer_id),
        AccessLogEntry.reference == _reference(share)).limit(1)).first()
    if opened is None:
        raise Conflict(gettext("open the credit report before reviewing it"), "REPORT_NOT_VIEWED")
    review_id = session.execute(dialect_insert(session, ReportReview).values(
        share_id=share.id, subject_id=share.subject_id, reviewer_id=viewer_id, rating=rating,
        comment=(comment or "").strip() or None, created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["share_id", "reviewer_id"])
        .returning(ReportReview.id)).scalar_one_or_none()
    if review_id is None:
        raise Conflict(gettext("you have reviewed this worker through this link already"),
                       "ALREADY_REVIEWED")
    return session.get(ReportReview, review_id)


def my_reviews_stmt(subject_id: int):
    return (select(ReportReview).where(ReportReview.subject_id == subject_id)
            .order_by(ReportReview.id.desc()))


def erase_account(session: Session, user: User) -> None:
    """A closed account's shares stop working and its worker profile goes."""
    from sqlalchemy import delete

    from points.models.workers import WorkerProfile

    session.execute(update(ReportShare).where(ReportShare.user_id == user.id,
                                              ReportShare.revoked_at.is_(None))
                    .values(revoked_at=utcnow()))
    session.execute(delete(WorkerProfile).where(WorkerProfile.user_id == user.id))
