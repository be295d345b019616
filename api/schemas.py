"""Schemas shown by more than one route module: an evidence file, and the
`attachments` a repair or an objection cites."""
from __future__ import annotations

from typing import ClassVar

import marshmallow as ma

from api.smorest import MAX_DB_ID, Schema
from points.models.attachments import ATTACHMENT_TYPES
from points.workflows import attachments


class AttachmentSchema(Schema):
    EXAMPLE: ClassVar[dict] = {
        "id": 7, "filename": "罚款缴款书.pdf", "content_type": "application/pdf",
        "size": 183204,
        "sha256": "9f2c4e1a0b7d3c5e8f6a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6",
        "created_at": "2026-12-03T10:15:00+00:00"}
    id = ma.fields.Integer(required=True, metadata={
        "description": "cite it in a repair or objection's `attachments`"})
    filename = ma.fields.String(required=True, metadata={
        "description": "the name it was uploaded under, with its type's extension"})
    content_type = ma.fields.String(required=True, validate=ma.validate.OneOf(ATTACHMENT_TYPES),
                                    metadata={"description": "judged by the file's content"})
    size = ma.fields.Integer(required=True, metadata={"description": "bytes"})
    sha256 = ma.fields.String(required=True, metadata={
        "description": "hex SHA-256 of the content, as received"})
    created_at = ma.fields.DateTime(required=True)


def attachment_ids_field() -> ma.fields.List:
    """The `attachments` of a repair or objection: ids of the caller's own files."""
    return ma.fields.List(
        ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=MAX_DB_ID)),
        load_default=list, validate=ma.validate.Length(max=attachments.MAX_PER_CASE),
        metadata={"description": "ids of my evidence files (POST /v1/me/attachments), at "
                  f"most {attachments.MAX_PER_CASE}; another's or unknown: 404 "
                  "ATTACHMENT_NOT_FOUND"})
