"""The credit office (`/v1/admin…`)."""
from __future__ import annotations

from typing import ClassVar

import marshmallow as ma
from sqlalchemy import select

from api import access
from api.context import db_session
from api.smorest import Blueprint, Schema, paginate_select
from points.models import Department
from points.office import departments
from points.rules import rule_store

blp = Blueprint("admin", __name__, url_prefix="/v1/admin", description="The credit office")


class DepartmentInSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'code': 'market',
                               'name': '长沙市市场监督管理局',
                               'record_types': ['admin.penalty.general']}
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=2, max=40))
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    record_types = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=64)),
                                  load_default=list, validate=ma.validate.Length(max=200))


class DepartmentPatchSchema(Schema):
    EXAMPLE: ClassVar[dict] = {'record_types': ['admin.penalty.general', 'admin.penalty.serious'],
                               'enabled': True}
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=200))
    record_types = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=64)),
                                  validate=ma.validate.Length(max=200))
    enabled = ma.fields.Boolean()


class DepartmentSchema(Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    record_types = ma.fields.List(ma.fields.String(), required=True)
    enabled = ma.fields.Boolean(required=True)
    key_rotated_at = ma.fields.DateTime()
    created_at = ma.fields.DateTime()


class DepartmentKeySchema(Schema):
    code = ma.fields.String(required=True)
    api_key = ma.fields.String(
        required=True,
        metadata={"description": "shown only in this answer: send it as X-API-Key"})


@blp.route("/departments", methods=["POST"])
@blp.arguments(DepartmentInSchema)
@blp.response(201, DepartmentKeySchema)
@blp.errors("DEPARTMENT_EXISTS")
def create_department(body):
    """Create a department; its API key is shown this once.

    Credit office. `record_types` are the rule set's types this department may report.
    The answer's `api_key` is shown only here: the server keeps a hash.
    """
    department, key = departments.create_department(
        db_session(), body["code"], body["name"], body["record_types"], rule_store.known_types(db_session()),
        actor=access.current().label)
    return {"code": department.code, "api_key": key}


@blp.route("/departments", methods=["GET"])
@blp.response(200, DepartmentSchema(many=True))
@blp.paginate()
@blp.errors()
def list_departments(pagination_parameters):
    """All departments.

    Credit office. With each department's allowed record types and whether it is enabled
    (never its key).
    """
    return paginate_select(db_session(), select(Department).order_by(Department.code),
                           pagination_parameters)


@blp.route("/departments/<string:code>", methods=["PATCH"])
@blp.arguments(DepartmentPatchSchema)
@blp.response(200, DepartmentSchema)
@blp.errors("NOT_FOUND")
def update_department(body, code):
    """Rename, enable or disable a department, or change its allowed record types.

    Credit office. A disabled department's API key answers 401 until it is enabled
    again.
    """
    return departments.update_department(db_session(), code, rule_store.known_types(db_session()),
                                         actor=access.current().label, **body)


@blp.route("/departments/<string:code>/keys", methods=["POST"])
@blp.response(201, DepartmentKeySchema)
@blp.errors("NOT_FOUND")
def rotate_key(code):
    """Issue a new API key for a department; the old key stops working at once.

    Credit office. The answer's `api_key` is shown only here.
    """
    department, key = departments.rotate_key(db_session(), code, actor=access.current().label)
    return {"code": department.code, "api_key": key}
