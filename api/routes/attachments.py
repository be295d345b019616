"""Evidence files: a resident uploads them (`/v1/me/attachments`) and cites them in
repairs and objections; the department deciding such a case reads them
(`/v1/dept/attachments/{id}`). The domain: points/workflows/attachments.py."""
from __future__ import annotations

import functools

import marshmallow as ma
from flask import request
from werkzeug.datastructures import FileStorage

from api import access
from api.bodies import UPLOAD_BODY_LIMIT
from api.context import db_session, state
from api.downloads import send_attachment
from api.schemas import AttachmentSchema
from api.smorest import Blueprint, Schema, paginate_select
from points.errors import TooLarge, Unsupported
from points.i18n import gettext
from points.workflows import attachments

blp = Blueprint("attachments", __name__, url_prefix="/v1",
                description="Evidence files for repairs and objections")

FILE_BODY = {"type": "string", "format": "binary"}


class UploadSchema(Schema):
    file = ma.fields.Raw(required=True, metadata={
        "type": "string", "format": "binary",
        "description": "a PDF, JPEG or PNG file of at most 5 MB"})


UPLOAD_EXAMPLE = {"file": "(the bytes of 罚款缴款书.pdf)"}


def _me():
    access.credit_subject_id(require_consent=False)  # 409 IDENTITY_REQUIRED, 403 NOT_ELIGIBLE
    return access.current().user


def within_upload_limit(view):
    """A body over the upload's limit is refused before the form is read (413
    FILE_TOO_LARGE); a body read in a stream stops at the limit."""

    @functools.wraps(view)
    def limited(*args, **kwargs):
        if request.content_length is not None and request.content_length > UPLOAD_BODY_LIMIT:
            raise TooLarge(gettext("the file is over {megabytes} MB",
                                   megabytes=attachments.MAX_BYTES // 2**20),
                           limit_bytes=attachments.MAX_BYTES)
        request.max_content_length = UPLOAD_BODY_LIMIT
        return view(*args, **kwargs)

    return limited


def file_responses(view):
    """The file's answer documented under each of its types."""
    view = blp.response(200, FILE_BODY, content_type="application/pdf",
                        description="The file, as application/pdf, image/jpeg or image/png")(view)
    for kind in ("image/jpeg", "image/png"):
        view = blp.alt_response(200, schema=FILE_BODY, content_type=kind, success=True)(view)
    return view


@blp.route("/me/attachments", methods=["POST"])
@within_upload_limit
@blp.arguments(UploadSchema, location="files", example=UPLOAD_EXAMPLE)
@blp.response(201, AttachmentSchema)
@blp.errors("IDENTITY_REQUIRED", "NOT_ELIGIBLE", "UNSUPPORTED_FILE", "FILE_TOO_LARGE",
            "ATTACHMENT_QUOTA_EXCEEDED")
def upload_attachment(files):
    """Upload an evidence file (PDF, JPEG or PNG, at most 5 MB) to cite in a repair or objection.

    Needs a face-verified identity. `multipart/form-data` with the file in the field
    `file`. Its type is judged by its content (not its name or declared type): anything
    but a readable PDF, JPEG or PNG, an empty file, or one whose name or declared type
    says another type is 415 UNSUPPORTED_FILE; over 5 MB 413 FILE_TOO_LARGE. The same
    file under the same name again answers the one kept the first time. Only I and a
    department deciding a case that cites it can read it.
    """
    user = _me()
    file = files["file"]
    if not isinstance(file, FileStorage):  # a form field named `file`, not a file
        raise Unsupported(gettext("send the file as a multipart file part named file"))
    data = file.stream.read(attachments.MAX_BYTES + 1)
    attachment = attachments.upload(db_session(), state().files, user, file.filename,
                                    file.content_type, data)
    return attachments.view(attachment)


@blp.route("/me/attachments")
@blp.response(200, AttachmentSchema(many=True))
@blp.paginate()
@blp.errors()
def my_attachments(pagination_parameters):
    """My evidence files, newest first.

    What each is (name, type, size, SHA-256); GET /v1/me/attachments/{id} sends the file.
    """
    rows = paginate_select(db_session(), attachments.mine(access.current().user),
                           pagination_parameters)
    return [attachments.view(a) for a in rows]


@blp.route("/me/attachments/<int:attachment_id>")
@file_responses
@blp.errors("ATTACHMENT_NOT_FOUND")
def my_attachment(attachment_id):
    """One of my evidence files, as a download with its own Content-Type.

    The owner only (anyone else: 404 ATTACHMENT_NOT_FOUND). Sent with `Content-Disposition:
    attachment` under its name and `X-Content-Type-Options: nosniff`.
    """
    return send_attachment(attachments.own(db_session(), access.current().user, attachment_id))


@blp.route("/dept/attachments/<int:attachment_id>")
@file_responses
@blp.errors("ATTACHMENT_NOT_FOUND")
def department_attachment(attachment_id):
    """An evidence file cited by a repair or objection this department decides.

    X-API-Key. Only a file that a case of this department cites (listed in the case's
    `attachments`); any other: 404 ATTACHMENT_NOT_FOUND. Sent as a download with its own
    Content-Type and `X-Content-Type-Options: nosniff`.
    """
    return send_attachment(attachments.for_department(db_session(), access.current().department,
                                            attachment_id))
