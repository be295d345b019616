"""Edge cases of the error layer."""
from __future__ import annotations

from points.errors import Conflict
from tests.builders.departments import department


def test_huge_path_ids_are_not_found(app, client):
    dept = department(app, client)
    r = client.post("/v1/dept/quality-issues/" + "9" * 30 + "/resolve", headers=dept, json={})
    assert r.status_code == 404 and r.json["error_code"] == "NOT_FOUND"


def test_extra_error_fields_never_replace_the_contract_fields(app):
    from api.errors import error_response

    with app.test_request_context():
        response = error_response(409, "X", "m", extra={"status": "pending", "detail": 1})
    assert response.json["status"] == "Conflict" and response.json["detail"] == 1
    error = Conflict("m", "X", status="pending")
    assert error.extra == {"status": "pending"}
