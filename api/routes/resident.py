"""The resident's own data (`/v1/me…`): identity, consents, access log."""
from __future__ import annotations

from typing import ClassVar

import marshmallow as ma
from flask import current_app
from sqlalchemy import select

from api import access
from api.context import cipher, db_session, state
from api.smorest import Blueprint, Schema, paginate_select
from points.i18n import gettext
from points.infra.db import today
from points.models import AccessLogEntry
from points.people import accounts, face

blp = Blueprint("resident", __name__, url_prefix="/v1/me", description="The signed-in resident")


class VerificationInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"name": "张三", "id_number": "430104199001011230"}
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=50))
    id_number = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))


class VerificationOutSchema(Schema):
    verify_id = ma.fields.String(required=True, metadata={
        "description": "for wx.requestFacialVerify({verifyId}), then PUT /v1/me/identity"})
    expires_in = ma.fields.Integer(required=True, metadata={"description": "seconds"})


class IdentityInSchema(Schema):
    """`{"verify_id"}` after a face verification; `{"name", "id_number"}` binds directly
    only in development (elsewhere 422 FACE_VERIFICATION_REQUIRED)."""

    EXAMPLE: ClassVar[dict] = {"verify_id": "F4E3D2C1-1234-4ABC-9DEF-0123456789AB"}

    verify_id = ma.fields.String(validate=ma.validate.Length(min=1, max=256))
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=50))
    id_number = ma.fields.String(validate=ma.validate.Length(min=1, max=32))
    phone = ma.fields.String(load_default=None, allow_none=True,
                             validate=ma.validate.Length(max=20))

    @ma.validates_schema
    def _one_way(self, data, **kwargs):
        if "verify_id" in data:
            if "name" in data or "id_number" in data:
                raise ma.ValidationError(gettext("give verify_id alone (with phone, optionally)"),
                                         "verify_id")
            return
        missing = {f: ["required without verify_id"] for f in ("name", "id_number")
                   if f not in data}
        if missing:
            raise ma.ValidationError(missing)


class IdentityOutSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'name_masked': '张*',
                               'id_number_masked': '4301**********123X',
                               'phone_masked': None,
                               'eligible': True,
                               'verified_at': '2026-12-03T09:30:00+08:00'}
    name_masked = ma.fields.String(required=True)
    id_number_masked = ma.fields.String(required=True)
    phone_masked = ma.fields.String(allow_none=True)
    eligible = ma.fields.Boolean(required=True)
    verified_at = ma.fields.DateTime(allow_none=True, metadata={
        "description": "when face verification bound it; null: bound before face "
                       "verification, no credit data until the person verifies"})


class MeSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'id': 1,
                               'identity_bound': True,
                               'identity_verified': True,
                               'identity': {'name_masked': '张*',
                                            'id_number_masked': '4301**********123X',
                                            'phone_masked': None,
                                            'eligible': True,
                                            'verified_at': '2026-12-03T09:30:00+08:00'}}
    id = ma.fields.Integer(required=True)
    identity_bound = ma.fields.Boolean(
        required=True,
        metadata={"description": "an ID number is bound to this account"})
    identity_verified = ma.fields.Boolean(
        required=True,
        metadata={"description": "the binding was face-verified; credit endpoints need it"})
    identity = ma.fields.Nested(IdentityOutSchema, allow_none=True)


class ConsentInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {"granted": True, "policy_version": "2026-01"}
    granted = ma.fields.Boolean(required=True)
    policy_version = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))


class ConsentSchema(Schema):
    scope = ma.fields.String(required=True, validate=ma.validate.OneOf(accounts.CONSENT_SCOPES))
    granted = ma.fields.Boolean(required=True)
    policy_version = ma.fields.String(allow_none=True)
    at = ma.fields.DateTime(allow_none=True)


class ConsentsSchema(Schema):
    consents = ma.fields.List(ma.fields.Nested(ConsentSchema), required=True)
    history = ma.fields.List(ma.fields.Nested(ConsentSchema), required=True)


class AccessLogSchema(Schema):
    id = ma.fields.Integer(required=True)
    actor_kind = ma.fields.String(required=True, validate=ma.validate.OneOf(
        accounts.ACCESS_ACTOR_KINDS))
    organisation = ma.fields.String(allow_none=True, metadata={
        "description": "the merchant or department, by name"})
    purpose = ma.fields.String(required=True, validate=ma.validate.OneOf(
        accounts.ACCESS_PURPOSES), metadata={"description": "a credit check's purpose, or "
                                             "what else the look was for"})
    reference = ma.fields.String(allow_none=True, metadata={
        "description": "the department's matter, the report share, …"})
    at = ma.fields.DateTime(required=True)


def verifier():
    """The face verifier: WeChat's, or the development stand-in (api/__init__.py)."""
    return state().face


def _identity_dict(view: accounts.IdentityView | None) -> dict | None:
    return None if view is None else view.__dict__


@blp.route("")
@blp.response(200, MeSchema)
@blp.errors()
def me():
    """My account.

    `identity_bound` and `identity_verified`: credit endpoints answer 409
    IDENTITY_REQUIRED until a face-verified identity is bound.
    """
    user = access.current().user
    view = accounts.identity_of(cipher(), user, today())
    return {"id": user.id, "identity_bound": view is not None,
            "identity_verified": user.subject_id is not None, "identity": _identity_dict(view)}


@blp.route("", methods=["DELETE"])
@blp.response(204)
@blp.errors()
def close_account():
    """Close my account: erase account data and end every session; credit records stay.

    Answers 204. Account data is erased (the WeChat openid, consents, the worker profile,
    merchant seats, unused codes, kept answers of retried writes), report links stop
    working, public commitments leave the public list and every token stops working; the
    credit records the law requires to keep stay with the person's credit subject.
    """
    from points.people import privacy

    session = db_session()
    user = access.current().user
    state().tokens.cut_user_tokens(session, user)
    privacy.close_account(session, user)


@blp.route("/identity/verifications", methods=["POST"])
@blp.arguments(VerificationInSchema)
@blp.response(201, VerificationOutSchema)
@blp.errors("IDENTITY_ALREADY_BOUND", "FACE_VERIFICATION_FAILED", "WECHAT_UNAVAILABLE")
def start_verification(body):
    """Start a face verification (人脸核身) as the person of this name and ID number.

    Step 1 of binding: the ID number is checked (checksum and date, 422), then WeChat is
    asked for a `verify_id` for this account as that person. Pass it to
    `wx.requestFacialVerify`, then PUT /v1/me/identity with it within `expires_in`
    seconds.
    """
    verification = face.start(db_session(), cipher(), verifier(), access.current().user,
                              body["name"], body["id_number"])
    expires_in = int((verification.expires_at - verification.started_at).total_seconds())
    return {"verify_id": verification.verify_id, "expires_in": expires_in}


@blp.route("/identity", methods=["PUT"])
@blp.arguments(IdentityInSchema)
@blp.response(200, IdentityOutSchema)
@blp.errors("FACE_VERIFICATION_REQUIRED", "FACE_VERIFICATION_NOT_FOUND",
            "FACE_VERIFICATION_FAILED", "IDENTITY_ALREADY_BOUND", "WECHAT_UNAVAILABLE")
def bind_identity(body):
    """Bind my identity once face verification confirmed me (answers only masked values).

    Step 3 of binding: with `{"verify_id"}` the server asks WeChat how the verification
    ended; on success the account is bound to the credit subject of that ID number
    (records pushed earlier become visible). An ID number bound to another account moves
    here: that account loses the credit file at once (audited, and shown in the person's
    access log). `{"name", "id_number"}`
    without a verification works only in development.
    """
    user = access.current().user
    if "verify_id" in body:
        view = face.complete(db_session(), cipher(), verifier(), user, body["verify_id"],
                             body.get("phone"), today())
    else:
        view = face.bind_in_development(db_session(), cipher(), verifier(), user, body["name"],
                                        body["id_number"], body.get("phone"), today())
    return view.__dict__


@blp.route("/identity", methods=["GET"])
@blp.response(200, IdentityOutSchema)
@blp.errors("IDENTITY_REQUIRED")
def get_identity():
    """My bound identity, masked.

    Only masked values: name 张*, ID number 4301**********123X; `eligible` is false under
    18.
    """
    from points.errors import Conflict

    view = accounts.identity_of(cipher(), access.current().user, today())
    if view is None:
        raise Conflict(gettext("bind your identity first"), "IDENTITY_REQUIRED")
    return view.__dict__


def _consent_dict(scope: str, consent) -> dict:
    if consent is None:
        return {"scope": scope, "granted": False, "policy_version": None, "at": None}
    return {"scope": consent.scope, "granted": consent.granted,
            "policy_version": consent.policy_version, "at": consent.at}


def _consents_body(user_id: int) -> dict:
    session = db_session()
    current = accounts.current_consents(session, user_id)
    return {
        "consents": [_consent_dict(scope, c) for scope, c in current.items()],
        "history": [_consent_dict(c.scope, c) for c in accounts.consent_history(session, user_id)],
    }


@blp.route("/consents")
@blp.response(200, ConsentsSchema)
@blp.errors()
def get_consents():
    """My consents in force, with their history.

    `credit_points` lets the service compute and show my points; `merchant_share` lets
    merchants see my level when I show a code. Each change is kept with the policy
    version it was given under.
    """
    return _consents_body(access.current().user.id)


@blp.route("/consents/<string:scope>", methods=["PUT"])
@blp.arguments(ConsentInSchema)
@blp.response(200, ConsentsSchema)
@blp.errors("POLICY_VERSION_UNKNOWN")
def put_consent(body, scope):
    """Grant or withdraw a consent (credit_points, merchant_share).

    `policy_version` is the version of the policy text the resident agreed to
    (`GET /v1/policies/current`; another version: 422 `POLICY_VERSION_UNKNOWN`). A code
    shown before `merchant_share` was withdrawn is refused when scanned
    (`consent_withdrawn`).
    """
    user = access.current().user
    accounts.set_consent(db_session(), user, scope, body["granted"], body["policy_version"],
                         current_app.config["CONSENT_POLICY_VERSION"])
    return _consents_body(user.id)


@blp.route("/access-log")
@blp.response(200, AccessLogSchema(many=True))
@blp.paginate()
@blp.errors()
def access_log(pagination_parameters):
    """Who looked at my credit: merchants, departments, report viewers.

    Every look at my credit data: merchants scanning my code, departments' credit checks
    (with purpose and matter), report viewers, identity moves. Newest first.
    """
    user = access.current().user
    if user.subject_id is None:
        pagination_parameters.item_count = 0
        return []
    stmt = (select(AccessLogEntry).where(AccessLogEntry.subject_id == user.subject_id)
            .order_by(AccessLogEntry.at.desc(), AccessLogEntry.id.desc()))
    return paginate_select(db_session(), stmt, pagination_parameters)



class ExportAccountSchema(Schema):
    id = ma.fields.Integer(required=True)
    created_at = ma.fields.DateTime(required=True)
    identity_bound_at = ma.fields.DateTime(allow_none=True)


def _rows(what: str) -> ma.fields.List:
    return ma.fields.List(ma.fields.Dict(keys=ma.fields.String()), required=True, metadata={
        "description": f"{what}: each row with its stored columns (dates ISO 8601)"})


class ExportSchema(Schema):
    """What GET /v1/me/export sends (documentation: the view returns points.people.export's dict)."""

    exported_at = ma.fields.DateTime(required=True)
    account = ma.fields.Nested(ExportAccountSchema, required=True)
    identity = ma.fields.Nested(lambda: IdentityOutSchema(), allow_none=True, required=True,
                                metadata={"description": "masked; null before binding"})
    consents = _rows("every consent given or withdrawn")
    redemptions = _rows("perks granted")
    report_shares = _rows("report links made (no tokens)")
    worker_profile = ma.fields.Dict(keys=ma.fields.String(), allow_none=True, required=True)
    records = _rows("the credit records about me, as GET /v1/me/records shows them")
    points_history = _rows("every change of my points")
    commitments = _rows("my commitments")
    repairs = _rows("my repair applications")
    objections = _rows("my objections")
    attachments = _rows("my evidence files: name, type, size, sha256 and the repair_ids and "
                        "objection_ids citing each (the files: GET /v1/me/attachments/{id})")
    access_log = _rows("who looked at my credit, when and why")


@blp.route("/export")
@blp.alt_response(200, schema=ExportSchema, success=True,
                  description="all personal data held about me, as JSON")
@blp.errors()
def export_my_data():
    """Everything held about me (PIPL access and copy).

    The right of access and copy (PIPL): account, masked identity, consents, records,
    points history, commitments, repairs, objections, evidence files (what each is; the
    file itself from GET /v1/me/attachments/{id}), redemptions, report shares, worker
    profile and the access log, as JSON.
    """
    from incentives import redemptions
    from points.people import export
    from points.workflows import attachments

    return export.export(db_session(), cipher(), access.current().user, today(),
                         {"redemptions": redemptions.export_section,
                          "attachments": attachments.export_section})
