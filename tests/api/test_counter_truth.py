"""What the counter tells a merchant, on both paths (issue 19 part 4, contract v1.1
"Perks and the counter"): `eligible` means the grant would succeed today, the
per-resident limit among the reasons (`limit_reached`, in the stats too); a restricted
resident is `not_eligible` at level `D`; staff cannot verify or redeem their own code
(409 OWN_CODE). Each story runs with the counter's plain run (api/pipeline.py) off
and on; `dispatched` says whether Flask answered."""
from __future__ import annotations

import pytest

from tests.builders.departments import department, push
from tests.builders.merchants import approved_merchant, code_for, customer, grant, make_perk, scan
from tests.builders.residents import auth, dev_login, resident, valid_id

BOTH_PATHS = pytest.mark.parametrize("plain", [False, True], ids=["flask", "plain"])


def _listed(client, person: dict, perk_id: int) -> dict:
    perks = client.get("/v1/perks", headers=person["headers"]).json
    return next(p for p in perks if p["id"] == perk_id)


def _stats(client, merchant: dict) -> dict:
    r = client.get("/v1/merchant/stats", headers=merchant["headers"])
    assert r.status_code == 200, r.json
    return r.json


@BOTH_PATHS
def test_eligible_says_the_per_resident_limit_is_reached(app, client, dispatched, monkeypatch,
                                                         plain):
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", plain)
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=50, per_resident_limit=1)
    staff = merchant["headers"]
    person = customer(client)
    listed = _listed(client, person, perk["id"])
    assert (listed["eligible"], listed["reasons"]) == (True, [])

    first = scan(client, staff, code_for(client, person), perk["id"])
    assert first.status_code == 201 and first.json["eligible"] is True, first.json
    granted = grant(client, staff, first.json["id"])
    assert granted.status_code == 201, granted.json

    listed = _listed(client, person, perk["id"])
    assert (listed["eligible"], listed["reasons"]) == (False, ["limit_reached"])
    token = code_for(client, person)
    dispatched.clear()
    again = scan(client, staff, token, perk["id"])
    assert dispatched == ([] if plain else [1])  # a refusal is still the scan's 201
    assert again.status_code == 201, again.json
    assert (again.json["eligible"], again.json["reasons"]) == (False, ["limit_reached"])
    r = grant(client, staff, again.json["id"])
    assert r.status_code == 409 and r.json["error_code"] == "LIMIT_REACHED", r.json
    assert _stats(client, merchant)["refusals_by_reason"] == {"limit_reached": 1}

    # another resident is not held to this one's limit
    other = customer(client, name="李四")
    assert scan(client, staff, code_for(client, other), perk["id"]).json["eligible"] is True

    # a reversed grant no longer counts: eligible again
    r = client.post(f"/v1/merchant/redemptions/{granted.json['id']}/reverse", headers=staff,
                    json={"reason": "游客退票"})
    assert r.status_code == 200, r.json
    assert _listed(client, person, perk["id"])["eligible"] is True
    third = scan(client, staff, code_for(client, person), perk["id"])
    assert (third.json["eligible"], third.json["reasons"]) == (True, [])
    assert grant(client, staff, third.json["id"]).status_code == 201


@BOTH_PATHS
def test_a_limit_of_two_allows_two_grants(app, client, plain_runs, monkeypatch, plain):
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", plain)
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, total_quota=50, per_resident_limit=2)
    person = customer(client)
    for _ in range(2):
        v = scan(client, merchant["headers"], code_for(client, person), perk["id"]).json
        assert v["eligible"] is True, v
        assert grant(client, merchant["headers"], v["id"]).status_code == 201
    v = scan(client, merchant["headers"], code_for(client, person), perk["id"]).json
    assert (v["eligible"], v["reasons"]) == (False, ["limit_reached"])
    counter_runs = [rule for rule in plain_runs if rule.startswith("/v1/merchant/")]
    assert len(counter_runs) == (5 if plain else 0)  # three scans, two grants


@BOTH_PATHS
def test_a_merchant_never_learns_that_a_resident_is_restricted(app, client, dispatched,
                                                               monkeypatch, plain):
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", plain)
    merchant = approved_merchant(app, client)
    perk = make_perk(client, merchant, min_level="D", total_quota=50)
    court = department(app, client, code="court")
    number = valid_id(birth="19860606", seq=31)
    push(client, court, {"type": "court.defaulter", "id_number": number,
                         "decided_on": "2026-01-05"})
    defaulter = resident(client, id_number=number)
    own = client.get("/v1/me/points", headers=defaulter["headers"]).json  # cached now
    assert own["restricted"] is True and own["level"] != "D"
    # the resident's own list says why
    assert "restricted" in _listed(client, defaulter, perk["id"])["reasons"]

    token = code_for(client, defaulter)
    dispatched.clear()
    r = scan(client, merchant["headers"], token, perk["id"])
    assert dispatched == ([] if plain else [1])
    assert r.status_code == 201, r.json
    assert (r.json["eligible"], r.json["level"], r.json["reasons"]) == (
        False, "D", ["not_eligible"])
    assert "restrict" not in r.get_data(as_text=True)
    r = grant(client, merchant["headers"], r.json["id"])
    assert r.status_code == 403, r.json
    assert (r.json["error_code"], r.json["reasons"]) == ("NOT_ELIGIBLE", ["not_eligible"])
    stats = _stats(client, merchant)
    assert stats["refusals_by_reason"] == {"not_eligible": 1}
    assert "restrict" not in str(stats)


@BOTH_PATHS
def test_staff_cannot_verify_or_redeem_their_own_code(app, client, dispatched, monkeypatch,
                                                      plain):
    monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", plain)
    owner = resident(client, id_number=valid_id(birth="19870707", seq=41), name="王店主")
    merchant = approved_merchant(app, client, owner=owner)
    perk = make_perk(client, merchant, min_level="D", total_quota=50)
    assert client.get("/v1/me/points", headers=owner["headers"]).status_code == 200
    invitation = client.post("/v1/merchant/invitations", headers=owner["headers"]).json["code"]
    clerk_openid = "clerk-own-code"
    clerk = auth(dev_login(client, clerk_openid)["access_token"])
    r = client.post(f"/v1/merchants/invitations/{invitation}/accept", headers=clerk)
    assert r.status_code == 200, r.json
    clerk = auth(dev_login(client, clerk_openid)["access_token"])
    assert client.get("/v1/merchant/perks", headers=clerk).status_code == 200  # seats cached

    token = code_for(client, owner)
    dispatched.clear()
    r = scan(client, owner["headers"], token, perk["id"])
    assert r.status_code == 409 and r.json["error_code"] == "OWN_CODE", r.json
    assert dispatched == ([] if plain else [1])  # refused by whichever ran the scan
    # nothing was spent: a colleague may scan the same code
    r = scan(client, clerk, token, perk["id"])
    assert r.status_code == 201 and r.json["eligible"] is True, r.json
    verification_id = r.json["id"]
    dispatched.clear()
    r = grant(client, owner["headers"], verification_id)
    assert r.status_code == 409 and r.json["error_code"] == "OWN_CODE", r.json
    assert dispatched == ([] if plain else [1])
    r = grant(client, clerk, verification_id)
    assert r.status_code == 201, r.json
