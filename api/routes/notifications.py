"""The resident's notifications (`/v1/me/notifications…`)."""
from __future__ import annotations

import marshmallow as ma

from api import access
from api.context import db_session
from api.smorest import Blueprint, Schema, paginate_select
from points.people import notifications
from points.people.notice_text import KINDS

blp = Blueprint("notifications", __name__, url_prefix="/v1/me/notifications",
                description="What happened to my credit, and who looked at it")


class NotificationQuerySchema(Schema):
    unread = ma.fields.Boolean(load_default=None, metadata={
        "description": "true: only unread; false: only read; absent: all"})


class RefSchema(Schema):
    type = ma.fields.String(required=True, metadata={
        "description": "record, repair, objection, commitment, credit_check, report_share"})
    id = ma.fields.Integer(required=True)


class NotificationSchema(Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"enum": list(KINDS)})
    title = ma.fields.String(required=True)
    body = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)
    read_at = ma.fields.DateTime(allow_none=True, required=True)
    ref = ma.fields.Nested(RefSchema, allow_none=True, required=True)


@blp.route("")
@blp.arguments(NotificationQuerySchema, location="query")
@blp.response(200, NotificationSchema(many=True))
@blp.paginate()
@blp.errors()
def my_notifications(query, pagination_parameters):
    """My notifications, newest first (X-Pagination).

    Resident. Every notice about my credit file: a negative record stored (with its
    department, document number and how to object or repair), records changed, my level
    changed, checks of my credit, views of my report, decisions, commitment outcomes, a
    binding moved. `unread=true` lists only the unread ones.
    """
    stmt = notifications.mine_stmt(access.current().user.id, query["unread"])
    return [notifications.view(n)
            for n in paginate_select(db_session(), stmt, pagination_parameters)]


@blp.route("/<int:notification_id>/read", methods=["POST"])
@blp.response(204)
@blp.errors("NOTIFICATION_NOT_FOUND")
def read_one(notification_id):
    """Mark one notification read.

    Resident, my own notifications only (anyone else's: 404). Reading it again changes
    nothing.
    """
    notifications.mark_read(db_session(), access.current().user.id, notification_id)


@blp.route("/read-all", methods=["POST"])
@blp.response(204)
@blp.errors()
def read_all():
    """Mark all my notifications read.

    Resident. Those already read keep the time they were read.
    """
    notifications.mark_all_read(db_session(), access.current().user.id)
