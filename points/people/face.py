"""Real-name binding by face verification (人脸核身).

A typed name and ID number prove nothing, so an account is bound to a credit
subject only when WeChat's face verification says the person holding the phone is
the person of that ID number:

1. `start`: the resident gives name and ID number; we ask WeChat for a `verify_id`
   (`getVerifyId`, with the account's openid and our own `out_seq_no`).
2. The mini-program runs `wx.requestFacialVerify({verifyId})`: WeChat compares the
   face with the authority's record of that name and number. We never see the face.
3. `complete`: we ask WeChat for the result (`queryVerifyInfo`, with the same
   out_seq_no, openid and the `cert_hash` of what we sent). Only `verify_ret` 10000
   binds; the verified name becomes the name departments' data is compared with.

A verify_id works once, only for the account that started it, and only until it
expires. A verified binding of an ID number another account holds moves it: that
account loses the credit file at once, is notified (`identity_moved`), and the move
is audited and written to the person's access log.

In development a stand-in verifier passes every verification so the service can be
tried without WeChat; it refuses to exist in production.
"""
from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from points.errors import Conflict, Invalid, NotFound
from points.i18n import gettext
from points.infra import hooks
from points.infra.crypto import DataCipher
from points.infra.db import utcnow
from points.infra.wechat import VERIFY_ID_DEFAULT_TTL, VERIFY_OK, FaceVerifier, VerifyId, cert_hash
from points.models import FaceVerification, Subject, User
from points.office.audit import audit
from points.people import accounts, notifications
from points.people.identity import is_adult, mask_id_number, mask_name, mask_phone
from points.recordkeeping.subjects import find_subject, get_or_create_subject


class StandInVerifier:
    """Development only: passes every verification without WeChat, so `make run`
    can be tried by anyone. It cannot be made in production."""

    def __init__(self, app_env: str) -> None:
        if app_env not in {"development", "testing"}:
            raise RuntimeError("the face-verification stand-in is for development only")

    def get_verify_id(self, openid: str, out_seq_no: str, name: str, number: str) -> VerifyId:
        return VerifyId(f"stand-in-{out_seq_no}", VERIFY_ID_DEFAULT_TTL)

    def query_verify_info(self, verify_id: str, out_seq_no: str, cert_hash: str,
                          openid: str) -> int:
        return VERIFY_OK


def _actor(user: User) -> str:
    return f"user:{user.id}"


def start(session: Session, cipher: DataCipher, verifier: FaceVerifier, user: User,
          name: str, id_number: str) -> FaceVerification:
    """Ask WeChat for a verify_id for this account as the person named (step 1)."""
    name, number = accounts.checked_identity(name, id_number)
    _not_bound_elsewhere(session, cipher, user, number)
    out_seq_no = secrets.token_hex(16)  # 32 of [0-9a-f]: WeChat allows 5-32 of [A-Za-z0-9_-]
    try:
        answer = verifier.get_verify_id(user.openid or "", out_seq_no, name, number)
    except Invalid as refused:
        audit(session, _actor(user), "identity.verification_refused", "user", user.id,
              after={"out_seq_no": out_seq_no, **refused.extra})
        raise Invalid(refused.message, refused.error_code, commit=True,
                      **refused.extra) from refused
    now = utcnow()
    verification = FaceVerification(
        user_id=user.id, out_seq_no=out_seq_no, verify_id=answer.verify_id,
        cert_hash=cert_hash(name, number), name_enc=cipher.encrypt(name),
        id_number_enc=cipher.encrypt(number), started_at=now,
        expires_at=now + dt.timedelta(seconds=answer.expires_in))
    session.add(verification)
    session.flush()
    audit(session, _actor(user), "identity.verification_started", "face_verification",
          verification.id, after={"out_seq_no": out_seq_no,
                                  "expires_at": verification.expires_at})
    return verification


def complete(session: Session, cipher: DataCipher, verifier: FaceVerifier, user: User,
             verify_id: str, phone: str | None, today: dt.date) -> accounts.IdentityView:
    """Ask WeChat how the verification ended and, if it was the person, bind (step 3)."""
    if phone is not None:
        _check_phone(phone)
    verification = session.execute(
        select(FaceVerification).where(FaceVerification.verify_id == verify_id,
                                       FaceVerification.user_id == user.id)
        .with_for_update()).scalar_one_or_none()
    if verification is None:
        raise NotFound(gettext("no face verification with this verify_id was started by this account"),
                       "FACE_VERIFICATION_NOT_FOUND")
    if verification.bound_at is not None:
        if user.subject_id is not None and user.subject_id == verification.subject_id:
            return _view(cipher, user, today)  # the same request again: the same answer
        raise NotFound(gettext("this face verification has been used; start a new one"),
                       "FACE_VERIFICATION_NOT_FOUND")
    if utcnow() >= verification.expires_at:
        raise NotFound(gettext("this face verification has expired; start a new one"),
                       "FACE_VERIFICATION_NOT_FOUND")
    name = cipher.decrypt(verification.name_enc)
    number = cipher.decrypt(verification.id_number_enc)
    _not_bound_elsewhere(session, cipher, user, number)
    # The hash sent is the one recomputed from what was kept, compared with the one
    # stored when WeChat was first asked: a changed row cannot bind another person.
    digest = cert_hash(name, number)
    if not secrets.compare_digest(digest, verification.cert_hash):
        raise NotFound(gettext("this face verification cannot be used; start a new one"),
                       "FACE_VERIFICATION_NOT_FOUND")
    try:
        verify_ret = verifier.query_verify_info(verification.verify_id, verification.out_seq_no,
                                                digest, user.openid or "")
    except Invalid as refused:
        audit(session, _actor(user), "identity.verification_refused", "face_verification",
              verification.id, after={"out_seq_no": verification.out_seq_no, **refused.extra})
        raise Invalid(refused.message, refused.error_code, commit=True,
                      **refused.extra) from refused
    verification.checked_at = utcnow()
    verification.verify_ret = verify_ret
    audit(session, _actor(user), "identity.verification_checked", "face_verification",
          verification.id, after={"out_seq_no": verification.out_seq_no,
                                  "verify_ret": verify_ret})
    if verify_ret != VERIFY_OK:
        raise Invalid(gettext("the face verification did not confirm the person"),
                      "FACE_VERIFICATION_FAILED", commit=True, verify_ret=verify_ret)
    return bind_verified(session, cipher, user, name, number, phone, verification, today)


def _not_bound_elsewhere(session: Session, cipher: DataCipher, user: User, number: str) -> None:
    """409 before WeChat is asked, when the account is verified-bound to another number
    (`bind_verified` checks again under the subject's lock)."""
    if user.subject_id is None:
        return
    held = find_subject(session, cipher, number)
    if held is None or held.id != user.subject_id:
        raise Conflict(gettext("this account is already bound to another ID number"),
                       "IDENTITY_ALREADY_BOUND")


def _check_phone(phone: str) -> None:
    if not accounts.PHONE_RE.match(phone):
        raise Invalid(gettext("the identity is not valid"), errors={"json": {"phone": [
            gettext("a mainland mobile number has 11 digits starting with 1")]}})


def bind_verified(session: Session, cipher: DataCipher, user: User, name: str, number: str,
                  phone: str | None, verification: FaceVerification,
                  today: dt.date) -> accounts.IdentityView:
    """Bind the account to the subject of `number` with the name WeChat verified,
    moving the binding from any other account that held it."""
    subject = get_or_create_subject(session, cipher, number)
    # Serialises two verified bindings of one person (PostgreSQL; SQLite has one writer).
    session.execute(select(Subject.id).where(Subject.id == subject.id).with_for_update())
    if user.subject_id is not None and user.subject_id != subject.id:
        raise Conflict(gettext("this account is already bound to another ID number"),
                       "IDENTITY_ALREADY_BOUND")
    earlier = session.execute(select(User).where(
        or_(User.subject_id == subject.id, User.unverified_subject_id == subject.id),
        User.id != user.id).with_for_update(of=User)).scalars().all()
    for holder in earlier:
        _move_away(session, holder, user, subject, verification, today)
    session.flush()  # the unique subject_id is free before this account takes it
    now = utcnow()
    user.subject = subject
    user.unverified_subject_id = None
    user.name_enc = cipher.encrypt(name)
    user.phone_enc = cipher.encrypt(phone) if phone else user.phone_enc
    user.identity_bound_at = user.identity_bound_at or now
    user.identity_verified_at = now
    subject.verified_name_enc = user.name_enc
    notifications.claim(session, user.id, subject.id)
    verification.bound_at = now
    verification.subject_id = subject.id
    verification.name_enc = verification.id_number_enc = None  # needed no longer
    accounts.account_changed(session, user.id)
    session.flush()  # the unique subject_id catches a concurrent binding here (409)
    return _view(cipher, user, today, name, number)


def _move_away(session: Session, holder: User, to: User, subject: Subject,
               verification: FaceVerification, today: dt.date) -> None:
    """The earlier account loses the credit file at once and is told why."""
    was_verified = holder.subject_id == subject.id and holder.identity_verified_at is not None
    for hook in hooks.of(session).identity_removed:  # e.g. its unused codes go
        hook(session, holder)
    holder.subject_id = None
    holder.unverified_subject_id = None
    holder.name_enc = holder.phone_enc = None
    holder.identity_bound_at = holder.identity_verified_at = None
    accounts.account_changed(session, holder.id)
    audit(session, _actor(to), "identity.moved", "subject", subject.id,
          before={"user_id": holder.id, "verified": was_verified},
          after={"user_id": to.id, "out_seq_no": verification.out_seq_no})
    accounts.record_access(session, subject.id, "account", "identity_moved",
                           actor_id=_actor(to), reference=f"from {_actor(holder)}")
    # To the account, not the person: the notices about the person's credit move
    # with the binding (`notifications.claim`), this one stays with the account.
    notifications.send_one(session, notifications.Notice(
        kind="identity_moved", dedupe_key=f"identity_moved:{verification.out_seq_no}:{holder.id}",
        user_id=holder.id, params={}), today)


def _view(cipher: DataCipher, user: User, today: dt.date, name: str | None = None,
          number: str | None = None) -> accounts.IdentityView:
    name = name if name is not None else cipher.decrypt(user.name_enc)
    number = number if number is not None else cipher.decrypt(user.subject.id_number_enc)
    phone = cipher.decrypt(user.phone_enc) if user.phone_enc else None
    return accounts.IdentityView(mask_name(name), mask_id_number(number),
                                 mask_phone(phone) if phone else None,
                                 is_adult(number, today), user.identity_verified_at)


def bind_in_development(session: Session, cipher: DataCipher, verifier: FaceVerifier,
                        user: User, name: str, id_number: str, phone: str | None,
                        today: dt.date) -> accounts.IdentityView:
    """`PUT /v1/me/identity {"name", "id_number"}` and the demo seed: both steps at once,
    which only the development stand-in can pass (WeChat needs the face in between)."""
    if not isinstance(verifier, StandInVerifier):
        raise Invalid(gettext("verify your face first: POST /v1/me/identity/verifications"),
                      "FACE_VERIFICATION_REQUIRED")
    accounts.checked_identity(name, id_number, phone)
    verification = start(session, cipher, verifier, user, name, id_number)
    return complete(session, cipher, verifier, user, verification.verify_id, phone, today)


def erase_unused(session: Session) -> int:
    """The name and ID number of verifications that expired unused are needed no longer
    (the sweep); their out_seq_no, cert_hash, result and times stay for the audit."""
    return session.execute(
        update(FaceVerification)
        .where(FaceVerification.bound_at.is_(None), FaceVerification.expires_at < utcnow(),
               FaceVerification.id_number_enc.is_not(None))
        .values(name_enc=None, id_number_enc=None)
        .execution_options(synchronize_session=False)).rowcount or 0
