"""The OpenAPI document integrators build against: valid, every operation named and
its caller's credentials declared as `api.access` enforces them, and nothing of
development in production's document."""
from __future__ import annotations

from openapi_spec_validator import validate

from api.access import required_role

METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_the_document_is_valid_openapi(client):
    validate(client.get("/openapi.json").json)


def test_every_operation_has_a_unique_operation_id(client):
    ids = [op.get("operationId") for _, _, op in _operations(client.get("/openapi.json").json)]
    assert None not in ids
    assert len(ids) == len(set(ids)) > 80


def test_every_operation_declares_the_credentials_access_asks_for(app, client):
    spec = client.get("/openapi.json").json
    schemes = spec["components"]["securitySchemes"]
    public_paths = set()
    for rule in app.url_map.iter_rules():
        if getattr(app.view_functions[rule.endpoint], "_public", False):
            public_paths.add(rule.rule)
    checked = 0
    for path, method, operation in _operations(spec):
        security = operation["security"]
        flask_path = path.replace("{", "<").replace("}", ">")
        if any(flask_path.split("<")[0] == rule.split("<")[0] and path.count("{") == rule.count("<")
               for rule in public_paths):
            assert security == [], (method, path)
        elif required_role(path) == "department":
            assert security == [{"apiKey": []}], (method, path)
        else:
            assert security == [{"bearer": []}], (method, path)
        for requirement in security:
            assert set(requirement) <= set(schemes)
        checked += 1
    assert checked > 80
    # Spot checks of each kind.
    ops = {(m, p): o for p, m, o in _operations(spec)}
    assert ops[("get", "/v1/health")]["security"] == []
    assert ops[("post", "/v1/dept/records")]["security"] == [{"apiKey": []}]
    assert ops[("get", "/v1/me/points")]["security"] == [{"bearer": []}]
    assert ops[("get", "/v1/admin/audit")]["security"] == [{"bearer": []}]


def test_production_has_no_development_sign_in(settings):
    import secrets

    from api import create_app

    production = create_app({
        **settings, "APP_ENV": "production", "REDIS_URL": "redis://127.0.0.1:9/0",  # never reached
        "DATABASE_URL": settings["DATABASE_URL"], "WECHAT_APPID": "wx0123456789abcdef",
        "WECHAT_SECRET": secrets.token_hex(16), "SECRET_KEY": secrets.token_urlsafe(48),
        "DATA_KEY": secrets.token_urlsafe(48)})
    try:
        client = production.test_client()
        spec = client.get("/openapi.json").json
        assert "/v1/auth/dev/login" not in spec["paths"]
        assert "/v1/auth/wechat/login" in spec["paths"]
        answer = client.post("/v1/auth/dev/login", json={"openid": "someone"})
        assert answer.status_code == 404
    finally:
        production.state.db.engine.dispose()


def test_development_documents_the_development_sign_in(client):
    spec = client.get("/openapi.json").json
    assert spec["paths"]["/v1/auth/dev/login"]["post"]["security"] == []


def test_idempotency_keys_and_rate_limits_are_documented_where_honoured(app, client):
    from api.ratelimit import LIMITS

    spec = client.get("/openapi.json").json
    by_endpoint = {}
    for rule in app.url_map.iter_rules():
        for method in rule.methods & {"GET", "POST", "PUT", "PATCH", "DELETE"}:
            path = rule.rule.replace("<int:", "{").replace("<string:", "{").replace(
                "<", "{").replace(">", "}")
            if path in spec["paths"] and method.lower() in spec["paths"][path]:
                by_endpoint[rule.endpoint] = spec["paths"][path][method.lower()]
    honoured = [e for e, view in app.view_functions.items() if getattr(view, "_idempotent", 0)]
    assert len(honoured) >= 8
    for endpoint in honoured:
        names = [p["name"] for p in by_endpoint[endpoint].get("parameters", [])]
        assert names.count("Idempotency-Key") == 1, endpoint
    for endpoint in LIMITS:
        if endpoint in by_endpoint:
            limited = by_endpoint[endpoint]["responses"]["429"]
            assert "Retry-After" in limited["headers"], endpoint
    assert "429" not in by_endpoint["points.my_points"]["responses"]


def test_x_pagination_is_documented_as_the_json_text_it_is(client):
    import json

    from tests.builders.residents import resident

    spec = client.get("/openapi.json").json
    header = spec["paths"]["/v1/me/records"]["get"]["responses"]["200"]["headers"]["X-Pagination"]
    assert header["schema"] == {"type": "string"}
    sent = client.get("/v1/me/records", headers=resident(client)["headers"])
    assert sent.status_code == 200
    assert json.loads(sent.headers["X-Pagination"])["total"] == 0


def _codes(response: dict) -> list[str]:
    schema = response["content"]["application/json"]["schema"]
    return schema["allOf"][1]["properties"]["error_code"]["enum"]


def test_error_codes_are_an_enum_and_listed_per_operation(client):
    from api.error_docs import catalogue

    spec = client.get("/openapi.json").json
    enum = spec["components"]["schemas"]["Error"]["properties"]["error_code"]["enum"]
    assert set(enum) == set(catalogue()) and "QUOTA_EXHAUSTED" in enum
    redeem = spec["paths"]["/v1/merchant/redemptions"]["post"]["responses"]
    assert _codes(redeem["409"]) == ["ALREADY_REDEEMED", "IDEMPOTENCY_IN_PROGRESS",
                                     "LIMIT_REACHED", "OWN_CODE", "QUOTA_EXHAUSTED"]
    assert "`QUOTA_EXHAUSTED`: the perk's quota is used up" in redeem["409"]["description"]
    assert _codes(redeem["410"]) == ["VERIFICATION_EXPIRED"]
    assert "Retry-After" in redeem["503"]["headers"]
    # What the pipeline answers is there without being declared by the view.
    points = spec["paths"]["/v1/me/points"]["get"]["responses"]
    assert _codes(points["401"]) == ["UNAUTHENTICATED"]
    assert _codes(points["409"]) == ["IDENTITY_REQUIRED"]
    assert set(_codes(points["403"])) == {"FORBIDDEN", "CONSENT_REQUIRED", "NOT_ELIGIBLE"}
    health = spec["paths"]["/v1/health"]["get"]["responses"]
    assert "401" not in health and "$ref" in health["503"]["content"]["application/json"][
        "schema"]  # its own body, not the error body
    merchant = spec["paths"]["/v1/admin/merchants/{merchant_id}"]["get"]["responses"]
    assert _codes(merchant["404"]) == ["MERCHANT_NOT_FOUND", "NOT_FOUND"]


def test_every_error_answer_a_test_meets_is_documented_for_its_operation(client):
    """Spot checks over HTTP: the code answered is among the operation's documented ones."""
    from tests.builders.residents import auth, dev_login

    spec = client.get("/openapi.json").json
    me = {"headers": auth(dev_login(client)["access_token"])}  # no identity bound
    answers = [
        ("get", "/v1/me/points", client.get("/v1/me/points", headers=me["headers"])),
        ("get", "/v1/me/points", client.get("/v1/me/points")),
        ("post", "/v1/merchants", client.post("/v1/merchants", json={"name": ""},
                                               headers=me["headers"])),
        ("post", "/v1/merchants", client.post("/v1/merchants", data="x",
                                               headers=me["headers"])),
    ]
    for method, path, answer in answers:
        status = str(answer.status_code)
        assert status.startswith("4"), (path, status)
        documented = spec["paths"][path][method]["responses"][status]
        assert answer.json["error_code"] in _codes(documented), (path, answer.json)
