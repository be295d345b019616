"""Merchants: application, the credit office's decision, staff and invitations.

A merchant applies with its unified social credit code (GB 32100); the credit
office approves (the applicant becomes the owner), rejects with a reason, or
suspends an approved merchant (its staff lose their merchant powers and its
perks stop showing). The owner invites staff with one-time codes.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import Row, and_, bindparam, join, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from stdnum.cn import uscc as gb32100
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError

from incentives.models import Invitation, Merchant, MerchantStaff
from points.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from points.i18n import gettext
from points.infra.crypto import hash_token
from points.infra.db import utcnow
from points.models import User
from points.office.audit import audit
from points.workflows.status_words import status_word

INVITATION_TTL = dt.timedelta(days=7)


def normalise_uscc(value: str) -> str:
    """The canonical 18-character code, or Invalid naming what is wrong with it."""
    try:
        return gb32100.validate(value or "")
    except InvalidLength:
        reason = "a unified social credit code has 18 characters"
    except InvalidChecksum:
        reason = "the check character is wrong"
    except ValidationError:
        reason = ("a unified social credit code has 8 digits, then 9 digits or capital letters "
                  "(not I, O, S, V, Z), then a check character")
    raise Invalid(gettext("the unified social credit code is not valid"),
                  errors={"json": {"uscc": [reason]}})


def apply(session: Session, user_id: int, name: str, uscc: str, sector: str) -> Merchant:
    """A signed-in user applies for a merchant. One application per code: a rejected
    one may be sent again (it goes back to pending), any other is a conflict."""
    name = (name or "").strip()
    if not name:
        raise Invalid(gettext("the merchant needs a name"), errors={"json": {"name": [gettext("give a name")]}})
    code = normalise_uscc(uscc)
    existing = session.execute(
        select(Merchant).where(Merchant.uscc == code).with_for_update()).scalar_one_or_none()
    if existing is not None:
        if existing.status != "rejected":
            raise Conflict(gettext("a merchant with this unified social credit code exists already"),
                           "MERCHANT_EXISTS")
        existing.name, existing.sector, existing.applicant_user_id = name, sector, user_id
        existing.status, existing.reason = "pending", None
        existing.decided_at = existing.decided_by = None
        existing.created_at = utcnow()
        return existing
    merchant = Merchant(name=name, uscc=code, sector=sector, status="pending",
                        applicant_user_id=user_id, created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(merchant)
            session.flush()
    except IntegrityError:  # another application with this code committed meanwhile
        raise Conflict(gettext("a merchant with this unified social credit code exists already"),
                       "MERCHANT_EXISTS") from None
    return merchant


def name_of(session: Session, merchant_id: int) -> str | None:
    """A merchant's name, None if there is no such merchant (a worker's employer, for
    points: one of the app's hooks)."""
    return session.execute(select(Merchant.name).where(Merchant.id == merchant_id)
                           ).scalar_one_or_none()


def _locked(session: Session, merchant_id: int) -> Merchant:
    merchant = session.execute(
        select(Merchant).where(Merchant.id == merchant_id).with_for_update()
        .execution_options(populate_existing=True)).scalar_one_or_none()
    if merchant is None:
        raise NotFound(gettext("no such merchant"), "MERCHANT_NOT_FOUND")
    return merchant


def _decide(session: Session, merchant_id: int, admin_id: int, expected: str,
            status: str, reason: str | None) -> Merchant:
    merchant = _locked(session, merchant_id)
    if merchant.status != expected:
        raise Conflict(gettext("the merchant is {status}, not {expected}",
                               status=status_word(merchant.status), expected=status_word(expected)),
                       "MERCHANT_STATE_CONFLICT", merchant_status=merchant.status)
    audit(session, f"admin:{admin_id}", f"merchant.{status}", "merchant", merchant.id,
          before={"status": merchant.status}, after={"status": status}, note=reason)
    merchant.status, merchant.reason = status, reason
    merchant.decided_at, merchant.decided_by = utcnow(), admin_id
    return merchant


def approve(session: Session, merchant_id: int, admin_id: int) -> Merchant:
    merchant = _decide(session, merchant_id, admin_id, "pending", "approved", None)
    session.add(MerchantStaff(merchant_id=merchant.id, user_id=merchant.applicant_user_id,
                              role="owner", added_at=utcnow()))
    session.flush()
    return merchant


def reject(session: Session, merchant_id: int, admin_id: int, reason: str) -> Merchant:
    return _decide(session, merchant_id, admin_id, "pending", "rejected", reason)


def suspend(session: Session, merchant_id: int, admin_id: int, reason: str) -> Merchant:
    return _decide(session, merchant_id, admin_id, "approved", "suspended", reason)


def reinstate(session: Session, merchant_id: int, admin_id: int) -> Merchant:
    return _decide(session, merchant_id, admin_id, "suspended", "approved", None)


@dataclass(frozen=True)
class MerchantRef:
    """The merchant a staff member acts for, as the access check read it (id and name:
    what the counter needs); routes that need the whole row load it by id."""

    id: int
    name: str


@dataclass(frozen=True)
class StaffSeat:
    merchant: MerchantRef
    role: str


# The account and its seats at approved merchants: built once, run before every
# merchant request.
_STAFF_OF = (
    select(User.id, User.closed_at, MerchantStaff.merchant_id, Merchant.name,
           MerchantStaff.role).select_from(User)
    .outerjoin(join(MerchantStaff, Merchant, and_(Merchant.id == MerchantStaff.merchant_id,
                                                  Merchant.status == "approved")),
               MerchantStaff.user_id == User.id)
    .where(User.id == bindparam("user")).order_by(MerchantStaff.merchant_id))


def staff_of(session: Session, user_id: int) -> tuple[Row | None, list[Row]]:
    """The account (id, closed_at) and its seats at approved merchants (merchant_id,
    name, role), read in one Core query."""
    rows = session.connection().execute(_STAFF_OF, {"user": user_id}).all()
    if not rows:
        return None, []
    return rows[0], [row for row in rows if row.merchant_id is not None]


def seat_of(seats: list[tuple[int, str, str]], merchant_id: int | None) -> StaffSeat:
    """Which approved merchant this user acts for, from the user's seats (merchant_id,
    name, role). A user working for several merchants names one (the X-Merchant-Id
    header); anyone else is refused."""
    if merchant_id is not None:
        seats = [seat for seat in seats if seat[0] == merchant_id]
    if not seats:
        raise Forbidden(gettext("only staff of an approved merchant may do this"))
    if len(seats) > 1:
        raise Invalid(gettext("you work for several merchants: name one in the X-Merchant-Id header"),
                      "MERCHANT_REQUIRED",
                      errors={"headers": {"X-Merchant-Id": [gettext("required for staff of several")]}})
    merchant_id, name, role = seats[0]
    return StaffSeat(MerchantRef(merchant_id, name), role)


def require_owner(seat: StaffSeat) -> None:
    if seat.role != "owner":
        raise Forbidden(gettext("only the merchant's owner may do this"))


def invite(session: Session, seat: StaffSeat, user_id: int) -> tuple[Invitation, str]:
    require_owner(seat)
    code = secrets.token_urlsafe(16)
    now = utcnow()
    invitation = Invitation(merchant_id=seat.merchant.id, code_hash=hash_token(code),
                            created_by=user_id, created_at=now, expires_at=now + INVITATION_TTL)
    session.add(invitation)
    session.flush()
    return invitation, code


def accept_invitation(session: Session, code: str, user_id: int) -> MerchantStaff:
    """Spend the code (atomically: one use only) and join its merchant as staff."""
    digest, now = hash_token(code), utcnow()
    spent = session.execute(
        update(Invitation)
        .where(Invitation.code_hash == digest, Invitation.accepted_at.is_(None),
               Invitation.expires_at > now)
        .values(accepted_at=now, accepted_by=user_id)
        .execution_options(synchronize_session=False))
    invitation = session.execute(
        select(Invitation).where(Invitation.code_hash == digest)).scalar_one_or_none()
    if spent.rowcount != 1:
        if invitation is not None and invitation.accepted_at is not None:
            raise Conflict(gettext("this invitation has been used"), "INVITATION_USED")
        raise Gone(gettext("this invitation is unknown or has expired"), "INVITATION_EXPIRED")
    merchant = session.get(Merchant, invitation.merchant_id)
    if merchant is None or merchant.status != "approved":
        raise Conflict(gettext("the merchant is not approved"), "MERCHANT_STATE_CONFLICT")
    staff = MerchantStaff(merchant_id=merchant.id, user_id=user_id, role="staff", added_at=now)
    try:
        with session.begin_nested():
            session.add(staff)
            session.flush()
    except IntegrityError:
        raise Conflict(gettext("you already work for this merchant"), "ALREADY_STAFF") from None
    return staff


def remove_staff(session: Session, seat: StaffSeat, user_id: int) -> None:
    require_owner(seat)
    staff = session.execute(select(MerchantStaff).where(
        MerchantStaff.merchant_id == seat.merchant.id,
        MerchantStaff.user_id == user_id)).scalar_one_or_none()
    if staff is None:
        raise NotFound(gettext("this user is not staff of your merchant"))
    if staff.role == "owner":
        raise Conflict(gettext("the owner cannot be removed"), "OWNER_NOT_REMOVABLE")
    session.delete(staff)


def erase_account(session: Session, user) -> None:
    """A closed account leaves every merchant it worked for and loses its unused codes."""
    from sqlalchemy import delete

    from incentives.models import VerificationToken

    session.execute(delete(MerchantStaff).where(MerchantStaff.user_id == user.id))
    session.execute(delete(VerificationToken).where(VerificationToken.user_id == user.id,
                                                    VerificationToken.used_at.is_(None)))
