"""POST /v1/dept/records at the HTTP layer: the batch's NUL check and the answer's
shape, which skip marshmallow's per-item work for 1000-record lists."""
from __future__ import annotations

import datetime as dt
import json

import marshmallow as ma
import pytest

from api.routes.department import AcceptedSchema, BatchSchema, PlainList
from api.smorest import Schema
from points.i18n import translate_tree
from points.infra.db import today
from tests.builders.departments import department
from tests.builders.residents import valid_id


@pytest.fixture
def dept(app, client):
    return department(app, client, record_types=["admin.penalty.general"])


def rec(ref: str, **subject) -> dict:
    """A record decided yesterday (Shanghai): in time, whatever day the suite runs."""
    decided_on = (today() - dt.timedelta(days=1)).isoformat()
    return {"source_ref": ref, "type": "admin.penalty.general", "decided_on": decided_on,
            "subject": {"id_number": valid_id(seq=7), "name": "张三", **subject}}


class ReferenceBatch(Schema):
    """BatchSchema as declared, with the project's general per-value NUL check."""

    records = ma.fields.List(ma.fields.Raw(), required=True)


@pytest.mark.parametrize("body", [
    {"records": [rec("a"), rec("b", name="张\x00三")]},
    {"records": [rec("a\x00"), {"x\x00": 1}, rec("c", id_number="\x00")]},
    {"records": [rec("a")], "extra\x00": "x"},
])
def test_a_nul_anywhere_is_refused_exactly_as_elsewhere(client, dept, body):
    with pytest.raises(ma.ValidationError) as reference:
        ReferenceBatch().load(body)
    r = client.post("/v1/dept/records", headers=dept, json=body)
    assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR"
    # the same errors, as JSON writes them (list positions become string keys)
    assert r.json["errors"]["json"] == translate_tree(json.loads(json.dumps(
        reference.value.messages)))


def test_text_that_only_looks_like_an_escape_is_no_nul(client, dept):
    r = client.post("/v1/dept/records", headers=dept,
                    json={"records": [rec("ref-\\u0000-literal")]})
    assert r.status_code == 200, r.json
    assert r.json["accepted"][0]["source_ref"] == "ref-\\u0000-literal"
    assert BatchSchema().load({"records": ["\\u0000"]}) == {"records": ["\\u0000"]}


def test_the_answer_has_the_documented_fields_only(client, dept):
    r = client.post("/v1/dept/records", headers=dept,
                    json={"records": [rec("ok"), rec("bad", id_number="123")]})
    assert r.status_code == 200
    assert r.json["accepted"] == [{"source_ref": "ok", "record_id": r.json["accepted"][0]["record_id"],
                                   "result": "created", "late": False}]
    assert isinstance(r.json["accepted"][0]["record_id"], int)
    assert [set(x) for x in r.json["rejected"]] == [{"source_ref", "index", "problems"}]


def test_plain_list_dumps_what_nested_would():
    class Plain(Schema):
        items = PlainList(ma.fields.Nested(AcceptedSchema))

    class Nested(Schema):
        items = ma.fields.List(ma.fields.Nested(AcceptedSchema))

    items = [{"source_ref": "a", "record_id": 1, "result": "created", "late": True,
              "index": 0, "internal": "x"},
             {"source_ref": "b", "record_id": 2, "result": "unchanged"}]
    assert Plain().dump({"items": items}) == Nested().dump({"items": items})
    assert Plain().dump({"items": None}) == Nested().dump({"items": None})
