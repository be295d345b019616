"""Sessions ended at the merchant counter (issue 18 part 4): the counter's plain run
(api/pipeline.py) refuses a clerk's access token the moment its session ends, by
logout or by the reuse of a spent refresh token, with the answer Flask gives; nothing
is spent."""
from __future__ import annotations

import pytest

from tests.builders import merchants
from tests.builders.residents import auth, dev_login


def _clerk(client, merchant: dict) -> dict:
    """A clerk signed in once (tokens) whose seat is cached."""
    tokens = dev_login(client)
    headers = auth(tokens["access_token"])
    code = client.post("/v1/merchant/invitations", headers=merchant["headers"]).json["code"]
    r = client.post(f"/v1/merchants/invitations/{code}/accept", headers=headers)
    assert r.status_code == 200, r.json
    assert client.get("/v1/merchant", headers=headers).status_code == 200  # seats cached
    return {"headers": headers, **tokens}


@pytest.mark.parametrize("ended_by", ["logout", "refresh_reuse"])
def test_an_ended_session_is_refused_at_the_counter(app, client, dispatched, plain_runs,
                                                   monkeypatch, ended_by):
    merchant = merchants.approved_merchant(app, client)
    perk = merchants.make_perk(client, merchant, total_quota=50)
    clerk = _clerk(client, merchant)
    refreshed = client.post("/v1/auth/refresh",
                            json={"refresh_token": clerk["refresh_token"]}).json
    later = auth(refreshed["access_token"])  # the same session, a later access token
    token = merchants.code_for(client, merchants.customer(client))
    dispatched.clear()
    verified = merchants.scan(client, later, token, perk["id"])
    assert verified.status_code == 201 and dispatched == [], verified.json  # the plain run

    if ended_by == "logout":
        assert client.post("/v1/auth/logout", headers=later).status_code == 204
    else:  # the spent refresh token used again: the whole family ends
        r = client.post("/v1/auth/refresh", json={"refresh_token": clerk["refresh_token"]})
        assert r.status_code == 401
    token = merchants.code_for(client, merchants.customer(client))
    for headers in (clerk["headers"], later):
        answers = {}
        for plain in (True, False):
            monkeypatch.setitem(app.config, "COUNTER_FAST_PATH", plain)
            dispatched.clear()
            plain_runs.clear()
            answers[plain] = [merchants.scan(client, headers, token, perk["id"]),
                              merchants.grant(client, headers, verified.json["id"])]
            # the plain run refused both itself; switched off, Flask did
            assert (len(plain_runs), dispatched) == ((2, []) if plain else (0, [1, 1]))
        for r, flask in zip(answers[True], answers[False], strict=True):
            assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED", r.json
            assert (r.status_code, r.json) == (flask.status_code, flask.json)
    assert merchants.tally(app) == {"used": 0, "grants": 0, "verifications": 1, "spent": 1}
    # The owner's session is another one: the code is still good at the counter.
    assert merchants.scan(client, merchant["headers"], token, perk["id"]).status_code == 201
