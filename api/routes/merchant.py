"""Merchants, perks, codes and redemptions.

Four audiences share this module: any signed-in resident (`/v1/merchants…`
to apply and accept invitations, `/v1/perks`), the resident (`/v1/me/…`),
merchant staff (`/v1/merchant…`, own merchant only) and the credit office
(`/v1/admin/merchants…`).
"""
from __future__ import annotations

import datetime as dt
import math
from typing import ClassVar

import marshmallow as ma
from flask import request
from flask_smorest.exceptions import PreconditionFailed, PreconditionRequired
from sqlalchemy import select

from api import access
from api.context import cipher, db_session, redis_client, unit_of_work
from api.idempotency import idempotent
from api.pipeline import plain
from api.seat_cache import MAX_ID
from api.smorest import PERIOD_DATES, Blueprint, Schema, paginate_select
from incentives import codes, merchants, perks, redemptions
from incentives.models import (
    BENEFIT_KINDS,
    MERCHANT_STATUSES,
    REDEMPTION_STATUSES,
    SECTORS,
    STAFF_ROLES,
    Merchant,
    MerchantStaff,
    Perk,
)
from points.employment import worker_profiles
from points.employment.workers import SAFETY_CODES
from points.errors import NotFound
from points.i18n import gettext
from points.infra.db import today
from points.models import Subject, User
from points.models.workers import EMPLOYER_STATUSES, OCCUPATIONS, WorkerProfile
from points.people.identity import mask_id_number, mask_name

blp = Blueprint("merchant", __name__, url_prefix="/v1", description="Merchants, perks, codes and redemptions")

IF_MATCH = {"name": "If-Match", "in": "header", "required": True,
            "description": "the perk's ETag", "schema": {"type": "string"}}
MERCHANT_HEADER = {"name": "X-Merchant-Id", "in": "header", "required": False,
                   "description": "which merchant, for staff of several",
                   "schema": {"type": "integer"}}
ETAG_HEADER = {"ETag": {"description": "the perk's entity tag", "schema": {"type": "string"}}}


def _id_field() -> ma.fields.Integer:
    return ma.fields.Integer(required=True, strict=True,
                             validate=ma.validate.Range(min=1, max=MAX_ID))


# -- who is calling: staff in a seat (api/seat_cache.py, the merchant role's check) ---

def _seat() -> merchants.StaffSeat:
    return access.current().seat


def _merchant_id() -> int:
    return _seat().merchant.id


def _merchant() -> Merchant:
    """The whole merchant row (most routes need only its id: _merchant_id)."""
    return db_session().get(Merchant, _merchant_id())


def _id(value: int) -> int:
    if value > MAX_ID:
        raise NotFound(gettext("no such object"))
    return value


def _etag(perk: Perk) -> dict[str, str]:
    return {"ETag": f'"{perks.etag(perk)}"'}


# -- schemas -----------------------------------------------------------------------

class MerchantApplySchema(Schema):
    EXAMPLE: ClassVar[dict] = {'name': '长沙橘子洲旅行社有限公司',
                               'uscc': '91430100MA4L0XXX0Q',
                               'sector': 'tourism'}
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    uscc = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40))
    sector = ma.fields.String(required=True, validate=ma.validate.OneOf(SECTORS))


class MerchantSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'id': 12,
                               'name': '长沙橘子洲旅行社有限公司',
                               'uscc': '91430100MA4L0XXX0Q',
                               'sector': 'tourism',
                               'status': 'pending',
                               'reason': None,
                               'created_at': '2026-12-01T09:00:00+08:00',
                               'decided_at': None}
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    uscc = ma.fields.String(required=True)
    sector = ma.fields.String(required=True, validate=ma.validate.OneOf(SECTORS))
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(MERCHANT_STATUSES),
                              metadata={"description": "pending until the office decides; "
                                        "suspended merchants' staff lose merchant powers"})
    reason = ma.fields.String(allow_none=True, metadata={
        "description": "the office's reason for a rejection or suspension"})
    created_at = ma.fields.DateTime()
    decided_at = ma.fields.DateTime(allow_none=True)


class MyMerchantSchema(MerchantSchema):
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(STAFF_ROLES))


class MerchantQuerySchema(Schema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(MERCHANT_STATUSES))


class MerchantReasonSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"reason": "营业执照信息与统一社会信用代码不符"}
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class MerchantInvitationSchema(Schema):
    code = ma.fields.String(required=True)
    merchant_id = ma.fields.Integer(required=True)
    expires_at = ma.fields.DateTime(required=True)


class MerchantJoinedSchema(Schema):
    merchant_id = ma.fields.Integer(required=True)
    merchant_name = ma.fields.String(required=True)
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(STAFF_ROLES))


class MerchantStaffSchema(Schema):
    user_id = ma.fields.Integer(required=True)
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(STAFF_ROLES))
    display_name = ma.fields.String(allow_none=True)
    added_at = ma.fields.DateTime()


class MerchantWorkerQuerySchema(Schema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(EMPLOYER_STATUSES))


class MerchantWorkerSchema(Schema):
    user_id = ma.fields.Integer(required=True)
    occupation = ma.fields.String(required=True, validate=ma.validate.OneOf(OCCUPATIONS))
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(EMPLOYER_STATUSES),
                              metadata={
        "description": "pending until the merchant confirms or rejects"})
    display_name = ma.fields.String(allow_none=True)
    id_number_masked = ma.fields.String(allow_none=True)
    safety_code = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(SAFETY_CODES),
                                   metadata={"description": "today's safety code, for a "
                                             "confirmed worker only"})
    named_at = ma.fields.DateTime(metadata={"description": "when the worker named the merchant"})
    decided_at = ma.fields.DateTime(allow_none=True)


class BenefitValue(ma.fields.Field):
    """A text such as "8折" or a number such as 0.8."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip()
            if not 1 <= len(value) <= 100:
                raise ma.ValidationError(gettext("give 1 to 100 characters"))
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # math.isfinite would overflow on a huge integer
        if isinstance(value, float) and math.isfinite(value):
            return value
        raise ma.ValidationError(gettext('a text (e.g. "8折") or a number'))


class PerkBenefitSchema(Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(BENEFIT_KINDS))
    value = BenefitValue(load_default=None, allow_none=True, metadata={
        # OpenAPI 3.0 allows `nullable` only beside a type: on each branch.
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": 100, "nullable": True},
            {"type": "number", "nullable": True}],
        "description": "what the discount or item is: a text such as \"8折\" or a number such "
                       "as 0.8 (needed for discount and free_item)"})

    @ma.validates_schema
    def _value_needed(self, data, **kwargs):
        if data.get("kind") in {"discount", "free_item"} and data.get("value") is None:
            raise ma.ValidationError(gettext("say what the discount or item is"), "value")


NOT_BLANK = ma.validate.Regexp(r"\s*\S", error="must not be blank")


class PerkPatchSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"total_quota": 800}
    title = ma.fields.String(validate=[ma.validate.Length(min=1, max=100), NOT_BLANK])
    description = ma.fields.String(validate=ma.validate.Length(max=2000))
    min_level = ma.fields.String(
        validate=ma.validate.OneOf(perks.LEVELS),
        metadata={"description": "the lowest level that may have it"})
    benefit = ma.fields.Nested(PerkBenefitSchema)
    total_quota = ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(min=1, max=10**7),
        metadata={"description": "grants in all"})
    per_resident_limit = ma.fields.Integer(strict=True,
                                           validate=ma.validate.Range(min=1, max=1000),
                                           metadata={"description": "grants per resident"})
    valid_from = ma.fields.Date(metadata={"description": "first day offered"})
    valid_until = ma.fields.Date(metadata={"description": "last day offered"})
    active = ma.fields.Boolean()


class PerkInSchema(PerkPatchSchema):
    EXAMPLE: ClassVar[dict] = {'title': '信用AA及以上游客门票8折',
               'description': '凭信用码到前台核验',
               'min_level': 'AA',
               'benefit': {'kind': 'discount', 'value': '8折'},
               'total_quota': 500,
               'per_resident_limit': 1,
               'valid_from': '2026-12-01',
               'valid_until': '2027-03-31'}
    title = ma.fields.String(required=True,
                             validate=[ma.validate.Length(min=1, max=100), NOT_BLANK])
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=2000))
    min_level = ma.fields.String(required=True, validate=ma.validate.OneOf(perks.LEVELS))
    benefit = ma.fields.Nested(PerkBenefitSchema, required=True)
    total_quota = ma.fields.Integer(required=True, strict=True,
                                    validate=ma.validate.Range(min=1, max=10**7))
    per_resident_limit = ma.fields.Integer(load_default=1, strict=True,
                                           validate=ma.validate.Range(min=1, max=1000))
    valid_from = ma.fields.Date(required=True)
    valid_until = ma.fields.Date(required=True)
    active = ma.fields.Boolean(load_default=True)


class PerkSchema(Schema):
    id = ma.fields.Integer(required=True)
    merchant_id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    description = ma.fields.String()
    min_level = ma.fields.String(required=True, validate=ma.validate.OneOf(perks.LEVELS))
    benefit = ma.fields.Nested(lambda: PerkBenefitSchema(), required=True)
    total_quota = ma.fields.Integer(required=True)
    used = ma.fields.Integer(
        required=True,
        metadata={"description": "grants so far (reversed ones give their unit back)"})
    remaining = ma.fields.Function(lambda p: p.total_quota - p.used,
                                   metadata={"type": "integer", "description": "quota left"})
    per_resident_limit = ma.fields.Integer(required=True)
    valid_from = ma.fields.Date(required=True)
    valid_until = ma.fields.Date(required=True)
    active = ma.fields.Boolean(
        required=True,
        metadata={"description": "false: not offered, whatever the dates"})
    version = ma.fields.Integer(
        required=True,
        metadata={"description": "changes with each edit (the ETag)"})
    updated_at = ma.fields.DateTime()


class PerkQuerySchema(Schema):
    sector = ma.fields.String(load_default=None, validate=ma.validate.OneOf(SECTORS))
    merchant_id = ma.fields.Integer(
        load_default=None,
        validate=ma.validate.Range(min=1, max=MAX_ID))


class PublicPerkSchema(Schema):
    """A perk on offer, for the resident asking (`perks.with_eligibility`: {"perk", …})."""

    EXAMPLE: ClassVar[dict] = {'id': 7,
                               'merchant_id': 12,
                               'merchant_name': '长沙橘子洲旅行社有限公司',
                               'sector': 'tourism',
                               'title': '信用AA及以上游客门票8折',
                               'description': '凭信用码到前台核验',
                               'min_level': 'AA',
                               'benefit': {'kind': 'discount', 'value': '8折'},
                               'valid_from': '2026-12-01',
                               'valid_until': '2027-03-31',
                               'remaining': 480,
                               'per_resident_limit': 1,
                               'eligible': False,
                               'reasons': ['level_too_low']}

    id = ma.fields.Integer(attribute="perk.id", required=True)
    merchant_id = ma.fields.Integer(attribute="perk.merchant_id", required=True)
    merchant_name = ma.fields.String(attribute="perk.merchant.name", required=True)
    sector = ma.fields.String(attribute="perk.merchant.sector", required=True,
                              validate=ma.validate.OneOf(SECTORS))
    title = ma.fields.String(attribute="perk.title", required=True)
    description = ma.fields.String(attribute="perk.description", required=True)
    min_level = ma.fields.String(attribute="perk.min_level", required=True,
                                 validate=ma.validate.OneOf(perks.LEVELS),
                                 metadata={"description": "the lowest level that may have it"})
    benefit = ma.fields.Nested(lambda: PerkBenefitSchema(), attribute="perk.benefit",
                               required=True)
    valid_from = ma.fields.Date(attribute="perk.valid_from", required=True)
    valid_until = ma.fields.Date(attribute="perk.valid_until", required=True)
    remaining = ma.fields.Function(lambda e: e["perk"].total_quota - e["perk"].used,
                                   required=True, metadata={"type": "integer",
                                                            "description": "quota left"})
    per_resident_limit = ma.fields.Integer(attribute="perk.per_resident_limit", required=True)
    eligible = ma.fields.Boolean(required=True, metadata={
        "description": "a grant would succeed today: level, validity, quota and the "
                       "per-resident limit"})
    reasons = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(perks.REASONS)),
                             required=True, metadata={"description": "why not (empty when "
                                                      "eligible)"})


class VerificationTokenSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'token': 'vt_9Qx3N7wKp2LmZ4aB',
                               'expires_at': '2026-12-03T10:02:00+08:00',
                               'qr_svg': '<svg xmlns="http://www.w3.org/2000/svg" …>…</svg>'}
    token = ma.fields.String(
        required=True,
        metadata={"description": "one-time; the merchant scans it (or types it) within 120 s"})
    expires_at = ma.fields.DateTime(required=True)
    qr_svg = ma.fields.String(
        required=True,
        metadata={"description": "the token as a QR code: a standalone SVG document"})


class PerkVerifyInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"token": "vt_9Qx3N7wKp2LmZ4aB", "perk_id": 7}
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    perk_id = _id_field()


class PerkVerificationSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'id': 1001,
                               'perk_id': 7,
                               'eligible': True,
                               'level': 'AA',
                               'display_name': '张*',
                               'reasons': [],
                               'redeem_before': '2026-12-03T10:10:00+08:00'}
    id = ma.fields.Integer(required=True)
    perk_id = ma.fields.Integer(required=True)
    eligible = ma.fields.Boolean(required=True)
    level = ma.fields.String(required=True, allow_none=True,
                             validate=ma.validate.OneOf(perks.LEVELS), metadata={
                                 "description": "the resident's level (D for a restricted "
                                                "resident: a merchant never learns more)"})
    display_name = ma.fields.String(required=True, metadata={"description": "masked: 张*"})
    reasons = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(perks.REASONS)),
                             required=True)
    redeem_before = ma.fields.Function(
        lambda v: (v.created_at + redemptions.VERIFICATION_TTL).isoformat(),
        metadata={"type": "string", "format": "date-time",
                  "description": "redeem on this verification before then (10 minutes)"})


class PerkRedeemInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"verification_id": 1001}
    verification_id = _id_field()


class RedemptionSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'id': 501,
                               'perk_id': 7,
                               'verification_id': 1001,
                               'status': 'granted',
                               'redeemed_at': '2026-12-03T10:01:30+08:00',
                               'display_name': '张*',
                               'terms': {'title': '信用AA及以上游客门票8折',
                                         'min_level': 'AA',
                                         'benefit': {'kind': 'discount', 'value': '8折'}},
                               'reversed_at': None,
                               'reverse_reason': None}
    id = ma.fields.Integer(required=True)
    perk_id = ma.fields.Integer(required=True)
    verification_id = ma.fields.Integer()
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(REDEMPTION_STATUSES))
    redeemed_at = ma.fields.DateTime(required=True)
    display_name = ma.fields.String()
    terms = ma.fields.Dict(keys=ma.fields.String(), metadata={
        "description": "the perk's terms when granted (title, benefit, min_level, …)"})
    reversed_at = ma.fields.DateTime(allow_none=True)
    reverse_reason = ma.fields.String(allow_none=True)


class MyRedemptionSchema(Schema):
    id = ma.fields.Integer(required=True)
    perk_id = ma.fields.Integer(required=True)
    merchant_id = ma.fields.Integer(required=True)
    merchant_name = ma.fields.Function(lambda r: r.terms.get("merchant_name"),
                                       metadata={"type": "string", "nullable": True})
    title = ma.fields.Function(lambda r: r.terms.get("title"), metadata={"type": "string"})
    benefit = ma.fields.Function(lambda r: r.terms.get("benefit"), metadata={
        "allOf": [{"$ref": "#/components/schemas/PerkBenefit"}],
        "description": "as granted"})
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(REDEMPTION_STATUSES))
    redeemed_at = ma.fields.DateTime(required=True)
    reversed_at = ma.fields.DateTime(allow_none=True)


class RedemptionQuerySchema(Schema):
    perk_id = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1, max=MAX_ID))
    status = ma.fields.String(load_default=None,
                              validate=ma.validate.OneOf(REDEMPTION_STATUSES))


class MerchantStatsQuerySchema(Schema):
    date_from = ma.fields.Date(data_key="from", load_default=None, validate=PERIOD_DATES)
    date_to = ma.fields.Date(data_key="to", load_default=None, validate=PERIOD_DATES)


class MerchantStatsDaySchema(Schema):
    date = ma.fields.Date(required=True)
    verifications = ma.fields.Integer(required=True)
    grants = ma.fields.Integer(required=True)
    reversals = ma.fields.Integer(required=True)
    refusals = ma.fields.Integer(required=True)


class MerchantStatsSchema(Schema):
    verifications = ma.fields.Integer(required=True)
    grants = ma.fields.Integer(required=True)
    reversals = ma.fields.Integer(required=True)
    refusals = ma.fields.Integer(required=True)
    date_from = ma.fields.Date(data_key="from", attribute="from", required=True)
    date_to = ma.fields.Date(data_key="to", attribute="to", required=True)
    refusals_by_reason = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    by_day = ma.fields.List(ma.fields.Nested(MerchantStatsDaySchema), required=True)


# -- applying, invitations (any signed-in resident) ---------------------------------

@blp.route("/merchants", methods=["POST"])
@blp.arguments(MerchantApplySchema)
@blp.response(201, MerchantSchema)
@blp.errors("MERCHANT_EXISTS")
def apply_for_merchant(body):
    """Apply for a merchant with its unified social credit code; the office decides.

    Any signed-in resident. `uscc` is the 18-character unified social credit code (GB
    32100, checksum checked); one merchant per code (409 MERCHANT_EXISTS). On approval
    the applicant becomes the merchant's owner.
    """
    return merchants.apply(db_session(), access.current().user.id, body["name"],
                           body["uscc"], body["sector"])


@blp.route("/merchants/applications")
@blp.response(200, MerchantSchema(many=True))
@blp.paginate()
@blp.errors()
def my_applications(pagination_parameters):
    """My merchant applications, with the office's decision and reason.

    Any signed-in resident: the merchants I applied for, with status and the office's
    reason.
    """
    stmt = (select(Merchant).where(Merchant.applicant_user_id == access.current().user.id)
            .order_by(Merchant.id.desc()))
    return paginate_select(db_session(), stmt, pagination_parameters)


@blp.route("/merchants/invitations/<string:code>/accept", methods=["POST"])
@blp.response(200, MerchantJoinedSchema)
@blp.errors("INVITATION_USED", "INVITATION_EXPIRED", "ALREADY_STAFF", "MERCHANT_STATE_CONFLICT")
def accept_invitation(code):
    """Join a merchant as staff with a one-time invitation code.

    Any signed-in resident, with a code from POST /v1/merchant/invitations (valid 7
    days, once).
    """
    staff = merchants.accept_invitation(db_session(), code[:200], access.current().user.id)
    return {"merchant_id": staff.merchant_id, "merchant_name": staff.merchant.name,
            "role": staff.role}


# -- the credit office ---------------------------------------------------------------

@blp.route("/admin/merchants")
@blp.arguments(MerchantQuerySchema, location="query")
@blp.response(200, MerchantSchema(many=True))
@blp.paginate()
@blp.errors()
def admin_list_merchants(query, pagination_parameters):
    """Merchant applications and merchants, by status (oldest first).

    Credit office. `?status=pending` lists the applications to decide.
    """
    stmt = select(Merchant)
    if query["status"]:
        stmt = stmt.where(Merchant.status == query["status"])
    return paginate_select(db_session(), stmt.order_by(Merchant.id), pagination_parameters)


@blp.route("/admin/merchants/<int:merchant_id>")
@blp.response(200, MerchantSchema)
@blp.errors("MERCHANT_NOT_FOUND")
def admin_get_merchant(merchant_id):
    """One merchant.

    Credit office.
    """
    merchant = db_session().get(Merchant, _id(merchant_id))
    if merchant is None:
        raise NotFound(gettext("no such merchant"), "MERCHANT_NOT_FOUND")
    return merchant


@blp.route("/admin/merchants/<int:merchant_id>/approve", methods=["POST"])
@blp.response(200, MerchantSchema)
@blp.errors("MERCHANT_NOT_FOUND", "MERCHANT_STATE_CONFLICT")
def admin_approve(merchant_id):
    """Approve a pending application; the applicant becomes the owner.

    Credit office. Only a pending application (409 MERCHANT_STATE_CONFLICT otherwise).
    """
    return merchants.approve(db_session(), _id(merchant_id), access.current().admin.id)


@blp.route("/admin/merchants/<int:merchant_id>/reject", methods=["POST"])
@blp.arguments(MerchantReasonSchema)
@blp.response(200, MerchantSchema)
@blp.errors("MERCHANT_NOT_FOUND", "MERCHANT_STATE_CONFLICT")
def admin_reject(body, merchant_id):
    """Reject a pending application, saying why.

    Credit office. The reason is shown to the applicant.
    """
    return merchants.reject(db_session(), _id(merchant_id), access.current().admin.id,
                            body["reason"])


@blp.route("/admin/merchants/<int:merchant_id>/suspend", methods=["POST"])
@blp.arguments(MerchantReasonSchema)
@blp.response(200, MerchantSchema)
@blp.errors("MERCHANT_NOT_FOUND", "MERCHANT_STATE_CONFLICT")
def admin_suspend(body, merchant_id):
    """Suspend an approved merchant: its staff lose merchant powers, its perks hide.

    Credit office. Staff of a suspended merchant get 403 on merchant routes; its perks
    are not offered.
    """
    return merchants.suspend(db_session(), _id(merchant_id), access.current().admin.id,
                             body["reason"])


@blp.route("/admin/merchants/<int:merchant_id>/reinstate", methods=["POST"])
@blp.response(200, MerchantSchema)
@blp.errors("MERCHANT_NOT_FOUND", "MERCHANT_STATE_CONFLICT")
def admin_reinstate(merchant_id):
    """Lift a suspension.

    Credit office. The merchant is approved again; its perks are offered again.
    """
    return merchants.reinstate(db_session(), _id(merchant_id), access.current().admin.id)


# -- merchant staff: the merchant and its people -------------------------------------

@blp.route("/merchant")
@blp.response(200, MyMerchantSchema)
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors()
def my_merchant():
    """The merchant I work for, and my role there.

    Merchant staff. Staff of several merchants name one in X-Merchant-Id (422
    MERCHANT_REQUIRED otherwise), as on every /v1/merchant route.
    """
    merchant = _merchant()
    fields = ("id", "name", "uscc", "sector", "status", "reason", "created_at", "decided_at")
    return {**{f: getattr(merchant, f) for f in fields}, "role": _seat().role}


@blp.route("/merchant/invitations", methods=["POST"])
@blp.response(201, MerchantInvitationSchema)
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors()
def invite_staff():
    """Owner: a one-time code (7 days) a new staff member accepts.

    The owner only (403 otherwise). The code is shown once; the new staff member accepts
    it with POST /v1/merchants/invitations/{code}/accept.
    """
    invitation, code = merchants.invite(db_session(), _seat(), access.current().id)
    return {"code": code, "merchant_id": invitation.merchant_id,
            "expires_at": invitation.expires_at}


@blp.route("/merchant/staff")
@blp.response(200, MerchantStaffSchema(many=True))
@blp.paginate()
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors()
def list_staff(pagination_parameters):
    """The merchant's owner and staff.

    Merchant staff; names masked.
    """
    stmt = (select(MerchantStaff, User).join(User, User.id == MerchantStaff.user_id)
            .where(MerchantStaff.merchant_id == _merchant_id()).order_by(MerchantStaff.id))
    rows = db_session().execute(stmt).all()
    pagination_parameters.item_count = len(rows)
    start = (pagination_parameters.page - 1) * pagination_parameters.page_size
    return [{"user_id": staff.user_id, "role": staff.role, "added_at": staff.added_at,
             "display_name": mask_name(cipher().decrypt(user.name_enc)) if user.name_enc
             else None}
            for staff, user in rows[start:start + pagination_parameters.page_size]]


@blp.route("/merchant/staff/<int:user_id>", methods=["DELETE"])
@blp.response(204)
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors("NOT_FOUND", "OWNER_NOT_REMOVABLE")
def remove_staff(user_id):
    """Owner: remove a staff member (the owner stays).

    The owner only; the owner cannot be removed (409 OWNER_NOT_REMOVABLE). Answers 204.
    """
    merchants.remove_staff(db_session(), _seat(), _id(user_id))


# -- merchant staff: perks -----------------------------------------------------------

@blp.route("/merchant/perks", methods=["POST"])
@blp.arguments(PerkInSchema)
@blp.response(201, PerkSchema, headers=ETAG_HEADER)
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors()
def create_perk(body):
    """Owner: offer a perk to residents at or above a level.

    The owner only. Residents at or above `min_level` may have it between `valid_from`
    and `valid_until`, `total_quota` times in all and `per_resident_limit` times each.
    The answer's ETag is needed to edit it.
    """
    merchants.require_owner(_seat())
    perk = perks.create(db_session(), _merchant(), body, today())
    return perk, 201, _etag(perk)


@blp.route("/merchant/perks")
@blp.response(200, PerkSchema(many=True))
@blp.paginate()
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors()
def list_perks(pagination_parameters):
    """The merchant's perks, with quota used.

    Merchant staff: every perk of the merchant with `used` and `remaining` quota.
    """
    stmt = select(Perk).where(Perk.merchant_id == _merchant_id()).order_by(Perk.id)
    return paginate_select(db_session(), stmt, pagination_parameters)


@blp.route("/merchant/perks/<int:perk_id>")
@blp.response(200, PerkSchema, headers=ETAG_HEADER)
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors("PERK_NOT_FOUND")
def get_perk(perk_id):
    """One of the merchant's perks, with its ETag.

    Merchant staff. The ETag header is what PATCH needs in If-Match.
    """
    perk = perks.own(db_session(), _merchant_id(), _id(perk_id))
    return perk, 200, _etag(perk)


@blp.route("/merchant/perks/<int:perk_id>", methods=["PATCH"])
@blp.arguments(PerkPatchSchema)
@blp.response(200, PerkSchema, headers=ETAG_HEADER)
@blp.doc(parameters=[IF_MATCH, MERCHANT_HEADER])
@blp.errors("PERK_NOT_FOUND", "PRECONDITION_FAILED", "PRECONDITION_REQUIRED")
def patch_perk(body, perk_id):
    """Owner: edit a perk; send its ETag in If-Match (redemptions keep their terms).

    The owner only. Without If-Match 428; with a stale ETag 412 (read the perk again).
    Redemptions already granted keep the terms they were granted under.
    """
    if not request.if_match:
        raise PreconditionRequired(description="send the perk's ETag in If-Match")
    merchants.require_owner(_seat())
    perk = perks.own(db_session(), _merchant_id(), _id(perk_id), lock=True)
    if perks.etag(perk) not in request.if_match:
        raise PreconditionFailed(description="the perk changed since you read it; read it again")
    perks.update(db_session(), perk, body)
    return perk, 200, _etag(perk)


# -- merchant staff: workers who name the merchant as employer ----------------------

def _worker_body(profile: WorkerProfile) -> dict:
    """A worker as their employer sees them: masked name and ID number (as on the report),
    the safety code only once the employment is confirmed."""
    session = db_session()
    user = session.get(User, profile.user_id)
    subject = session.get(Subject, profile.subject_id)
    name = cipher().decrypt(user.name_enc) if user is not None and user.name_enc else None
    confirmed = profile.employer_status == "confirmed"
    return {
        "user_id": profile.user_id, "occupation": profile.occupation,
        "status": profile.employer_status,
        "display_name": mask_name(name) if name else None,
        "id_number_masked": (mask_id_number(cipher().decrypt(subject.id_number_enc))
                             if subject is not None else None),
        "safety_code": (worker_profiles.status_of(session, profile.subject_id, today())[
            "safety_code"] if confirmed else None),
        "named_at": profile.updated_at, "decided_at": profile.employer_decided_at,
    }


@blp.route("/merchant/workers")
@blp.arguments(MerchantWorkerQuerySchema, location="query")
@blp.response(200, MerchantWorkerSchema(many=True))
@blp.paginate()
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors()
def list_workers(query, pagination_parameters):
    """Workers who name this merchant as employer (?status=pending to confirm them).

    Merchant staff. A worker naming this merchant is `pending` until staff confirm or
    reject; the safety code is shown only for confirmed workers.
    """
    stmt = worker_profiles.of_merchant(_merchant_id(), query["status"])
    return [_worker_body(p) for p in paginate_select(db_session(), stmt, pagination_parameters)]


def _decide_worker(user_id: int, confirm: bool) -> dict:
    profile = worker_profiles.decide_employment(db_session(), _merchant_id(), _id(user_id),
                                                confirm, access.current().id)
    return _worker_body(profile)


@blp.route("/merchant/workers/<int:user_id>/confirm", methods=["POST"])
@blp.response(200, MerchantWorkerSchema)
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors("WORKER_NOT_FOUND")
def confirm_worker(user_id):
    """Confirm that the worker works for this merchant: shown on their report from now.

    Merchant staff. From now on the merchant appears as employer on the worker's report.
    """
    return _decide_worker(user_id, True)


@blp.route("/merchant/workers/<int:user_id>/reject", methods=["POST"])
@blp.response(200, MerchantWorkerSchema)
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors("WORKER_NOT_FOUND")
def reject_worker(user_id):
    """Say the worker does not (or no longer) work for this merchant.

    Merchant staff. The merchant no longer appears on the worker's report.
    """
    return _decide_worker(user_id, False)


# -- merchant staff: verifications, redemptions, stats -------------------------------

@blp.route("/merchant/verifications", methods=["POST"])
@blp.arguments(PerkVerifyInSchema)
@blp.response(201, PerkVerificationSchema)
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors("PERK_NOT_FOUND", "TOKEN_USED", "TOKEN_EXPIRED", "OWN_CODE")
@plain(switch="COUNTER_FAST_PATH")
def verify_code(body):
    """Scan a resident's one-time code for one perk: eligibility, level, masked name.

    Merchant staff, with the code the resident shows (valid 120 s, once). The merchant
    learns the level and a masked name only, never points, records or ID number; a
    restricted resident shows as `D` with reason `not_eligible`. Staff cannot scan their
    own code (409 OWN_CODE). Redeem within 10 minutes.
    """
    return codes.verify(unit_of_work(), cipher(), redis_client(), _seat().merchant,
                        access.current().id, body["token"], body["perk_id"], today())


@blp.route("/merchant/redemptions", methods=["POST"])
@blp.arguments(PerkRedeemInSchema)
@blp.doc(parameters=[MERCHANT_HEADER])
@idempotent
@blp.response(201, RedemptionSchema)
@blp.errors("VERIFICATION_NOT_FOUND", "VERIFICATION_EXPIRED", "ALREADY_REDEEMED", "OWN_CODE",
            "NOT_ELIGIBLE", "QUOTA_EXHAUSTED", "LIMIT_REACHED", "DATABASE_BUSY")
@plain(switch="COUNTER_FAST_PATH")
def redeem(body):
    """Grant the perk on a verification (at most once, within quota and limit).

    Merchant staff. Grants once per verification, within the perk's quota and the
    resident's limit, under the perk's terms at verification. Send an Idempotency-Key: a
    retry with the same key and body replays the first answer.
    """
    return redemptions.redeem(unit_of_work(), _seat().merchant, access.current().id,
                              body["verification_id"], today())


@blp.route("/merchant/redemptions")
@blp.arguments(RedemptionQuerySchema, location="query")
@blp.response(200, RedemptionSchema(many=True))
@blp.paginate()
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors()
def merchant_redemptions(query, pagination_parameters):
    """The merchant's redemptions, newest first.

    Merchant staff. Filter by `perk_id` and `status` (granted, reversed).
    """
    stmt = redemptions.of_merchant(_merchant_id(), query["perk_id"], query["status"])
    return paginate_select(db_session(), stmt, pagination_parameters)


@blp.route("/merchant/redemptions/<int:redemption_id>/reverse", methods=["POST"])
@blp.arguments(MerchantReasonSchema)
@blp.response(200, RedemptionSchema)
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors("REDEMPTION_NOT_FOUND", "ALREADY_REVERSED", "REVERSAL_WINDOW_CLOSED")
def reverse_redemption(body, redemption_id):
    """Reverse a grant within a day; the quota unit comes back.

    Merchant staff, within a day of the grant (409 REVERSAL_WINDOW_CLOSED after); the
    reason is kept.
    """
    return redemptions.reverse(db_session(), _seat().merchant, access.current().id,
                               _id(redemption_id), body["reason"])


@blp.route("/merchant/stats")
@blp.arguments(MerchantStatsQuerySchema, location="query")
@blp.response(200, MerchantStatsSchema)
@blp.doc(parameters=[MERCHANT_HEADER])
@blp.errors()
def merchant_stats(query):
    """Verifications, grants, reversals and refusals by reason, per day (default 30 days).

    Merchant staff. For `date_from`..`date_to` (at most a year; default the last 30
    days), per day.
    """
    date_to = query["date_to"] or today()
    date_from = query["date_from"] or date_to - dt.timedelta(days=29)
    return redemptions.stats(db_session(), _merchant_id(), date_from, date_to)


# -- residents -----------------------------------------------------------------------

@blp.route("/perks")
@blp.arguments(PerkQuerySchema, location="query")
@blp.response(200, PublicPerkSchema(many=True))
@blp.paginate()
@blp.errors()
def list_active_perks(query, pagination_parameters):
    """Perks on offer now, each saying whether I may have it and why not.

    Any signed-in resident. Filter by `sector` and `merchant_id`. `eligible` says
    whether a grant would succeed today for me; `reasons` says why not (level too low,
    limit reached, quota used up, consent missing, …).
    """
    session, day = db_session(), today()
    stmt = perks.visible(session, day, query["sector"], query["merchant_id"])
    page = paginate_select(session, stmt, pagination_parameters)
    if not page:
        return []
    standing = perks.standing_of(session, redis_client(), cipher(), access.current().user,
                                 day, [perk.id for perk in page])
    return [perks.with_eligibility(perk, standing, day) for perk in page]


@blp.route("/me/verification-tokens", methods=["POST"])
@blp.response(201, VerificationTokenSchema)
@blp.errors("CONSENT_REQUIRED", "IDENTITY_REQUIRED", "NOT_ELIGIBLE")
def create_verification_token():
    """A one-time code (120 s, with its QR code) to show a merchant my level.

    Needs a face-verified identity, age 18 or over and the `merchant_share` consent (403
    CONSENT_REQUIRED). The token and its QR code (a standalone SVG) work once, for 120
    seconds.
    """
    issued = codes.issue(db_session(), cipher(), access.current().user, today())
    return {"token": issued.token, "expires_at": issued.expires_at, "qr_svg": issued.qr_svg}


@blp.route("/me/redemptions")
@blp.response(200, MyRedemptionSchema(many=True))
@blp.paginate()
@blp.errors()
def my_redemptions(pagination_parameters):
    """Perks I have been granted, with the terms they were granted under.

    The terms shown are those the perk had when it was granted.
    """
    stmt = redemptions.of_resident(access.current().user.id)
    return paginate_select(db_session(), stmt, pagination_parameters)
