"""Employers confirm their workers (issue 19 part 5, contract v1.1 "Workers"): a worker
profile naming a merchant is pending until that merchant's staff confirm it; only a
confirmed employer is on the report and sees the worker's safety code; a resident
without a worker profile has no report to share (409 NOT_A_WORKER)."""
from __future__ import annotations

from tests.builders.merchants import approved_merchant
from tests.builders.residents import resident, valid_id
from tests.builders.workers import at, make_worker, share, sign_in


def _profile(client, worker: dict, merchant_id: int | None) -> dict:
    r = client.put("/v1/me/worker-profile", headers=worker["headers"],
                   json={"occupation": "housekeeping", "merchant_id": merchant_id})
    assert r.status_code == 200, r.json
    return r.json


def _report(client, worker: dict) -> dict:
    viewer = sign_in(client, "family-viewer")
    r = client.get(f"/v1/reports/{share(client, worker)['token']}", headers=viewer)
    assert r.status_code == 200, r.json
    return r.json


def _workers(client, merchant: dict, status: str | None = None) -> list[dict]:
    query = f"?status={status}" if status else ""
    r = client.get(f"/v1/merchant/workers{query}", headers=merchant["headers"])
    assert r.status_code == 200, r.json
    return r.json


def test_an_employer_named_shows_only_once_its_staff_confirm(app, client):
    with at():
        company = approved_merchant(app, client, name="好管家家政", sector="housekeeping")
        scenic = approved_merchant(app, client, name="岳麓山景区")
        worker = make_worker(app, client, valid_id(birth="19880808", seq=51))
        user_id = client.get("/v1/me", headers=worker["headers"]).json["id"]

        body = _profile(client, worker, scenic["id"])
        assert (body["merchant_id"], body["employer_status"]) == (scenic["id"], "pending")
        assert _report(client, worker)["employer"] is None
        pending = _workers(client, scenic, "pending")
        assert [(w["user_id"], w["status"], w["safety_code"]) for w in pending] == [
            (user_id, "pending", None)]  # no safety code before the employment is confirmed
        assert pending[0]["display_name"] == "王*花"
        assert pending[0]["id_number_masked"].startswith("4301")
        # The scenic area does not employ housekeepers: rejected, never on the report.
        r = client.post(f"/v1/merchant/workers/{user_id}/reject", headers=scenic["headers"])
        assert r.status_code == 200 and r.json["status"] == "rejected", r.json
        assert _report(client, worker)["employer"] is None
        assert _workers(client, scenic, "pending") == []

        body = _profile(client, worker, company["id"])
        assert body["employer_status"] == "pending"
        # another merchant cannot decide about someone who did not name it
        r = client.post(f"/v1/merchant/workers/{user_id}/confirm", headers=scenic["headers"])
        assert r.status_code == 404 and r.json["error_code"] == "WORKER_NOT_FOUND", r.json
        assert _workers(client, scenic) == []
        r = client.post(f"/v1/merchant/workers/{user_id}/confirm", headers=company["headers"])
        assert r.status_code == 200, r.json
        assert (r.json["status"], r.json["safety_code"]) == ("confirmed", "green")
        again = client.post(f"/v1/merchant/workers/{user_id}/confirm",
                            headers=company["headers"])
        assert again.status_code == 200 and again.json["decided_at"] == r.json["decided_at"]
        assert _report(client, worker)["employer"] == {"merchant_id": company["id"],
                                                       "name": "好管家家政"}
        assert [w["status"] for w in _workers(client, company, "confirmed")] == ["confirmed"]

        # Saving the profile with the same employer keeps the confirmation; naming
        # another one (or none) ends it.
        assert _profile(client, worker, company["id"])["employer_status"] == "confirmed"
        body = _profile(client, worker, None)
        assert (body["merchant_id"], body["employer_status"]) == (None, None)
        assert _report(client, worker)["employer"] is None
        assert _workers(client, company) == []


def test_a_resident_without_a_worker_profile_cannot_share_a_report(app, client):
    with at():
        person = resident(client, id_number=valid_id(birth="19890909", seq=52))
        r = client.post("/v1/me/report-shares", headers=person["headers"],
                        json={"ttl_minutes": 60})
        assert r.status_code == 409 and r.json["error_code"] == "NOT_A_WORKER", r.json
        assert client.get("/v1/me/report-shares", headers=person["headers"]).json == []


def test_the_workers_list_filters_by_status(app, client):
    with at():
        company = approved_merchant(app, client, name="好管家家政", sector="housekeeping")
        r = client.get("/v1/merchant/workers?status=maybe", headers=company["headers"])
        assert r.status_code == 422


def test_an_employers_name_is_asked_of_the_apps_hooks_never_guessed(app, client):
    """points asks incentives for a merchant's name through the app's hooks: on the
    app's sessions it is the name; on a session made outside an app the question
    cannot be answered, and it says so rather than take the merchant for missing."""
    import pytest
    from sqlalchemy.orm import Session

    from points.employment import worker_profiles

    merchant = approved_merchant(app, client, name="家政服务中心")
    with app.state.db.new_session() as session:
        assert worker_profiles._merchant_name(session, merchant["id"]) == "家政服务中心"
        assert worker_profiles._merchant_name(session, merchant["id"] + 1000) is None
    with Session(app.state.db.engine) as outside, pytest.raises(RuntimeError, match="hooks"):
        worker_profiles._merchant_name(outside, merchant["id"])
