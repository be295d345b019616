"""A plain route's lean run takes its body schema, status and answer schema from the
route's own declarations to smorest, and Idempotency-Key from `@idempotent`: declared
once, read by both runs (api/pipeline.py)."""
from __future__ import annotations

import marshmallow as ma
import pytest
from flask_smorest import Blueprint

from api import gate
from api.pipeline import plain, spec_of
from api.routes.merchant import PerkRedeemInSchema, PerkVerifyInSchema, RedemptionSchema
from api.routes.points_views import PointsSchema


def test_the_grant_runs_as_its_route_declares_it(app):
    spec = spec_of(app.view_functions["merchant.redeem"])
    assert isinstance(spec.load, PerkRedeemInSchema)
    assert isinstance(spec.dump, RedemptionSchema)
    assert (spec.status, spec.idempotent, spec.switch) == (201, True, "COUNTER_FAST_PATH")


def test_the_scan_honours_no_idempotency_key_as_its_route_declares_none(app):
    spec = spec_of(app.view_functions["merchant.verify_code"])
    assert isinstance(spec.load, PerkVerifyInSchema)
    assert (spec.status, spec.idempotent) == (201, False)


def test_the_points_read_takes_no_body_and_sends_its_answer_as_it_is(app):
    view = app.view_functions["points.my_points"]
    spec = spec_of(view)
    assert (spec.load, spec.dump, spec.status) == (None, None, 200)
    assert spec.prefetch is gate.fetch_with_score
    # Documented with its schema all the same.
    assert isinstance(view._apidoc["response"]["responses"][200][0]["schema"], PointsSchema)


class Query(ma.Schema):
    q = ma.fields.String()


def test_a_plain_route_that_reads_a_query_string_refuses_to_start():
    blp = Blueprint("probe", __name__)

    @blp.arguments(Query, location="query")
    @blp.response(200)
    @plain(switch="X")
    def view(query):
        return {}

    with pytest.raises(RuntimeError, match="one JSON body at most"):
        spec_of(view)


def test_a_view_not_declared_to_smorest_refuses_to_start():
    @plain(switch="X")
    def view():
        return {}

    with pytest.raises(RuntimeError, match="not a plain route declared to smorest"):
        spec_of(view)
