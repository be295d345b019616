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
        production.extensions["credit"].db.engine.dispose()


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

    from tests.helpers import resident

    spec = client.get("/openapi.json").json
    header = spec["paths"]["/v1/me/records"]["get"]["responses"]["200"]["headers"]["X-Pagination"]
    assert header["schema"] == {"type": "string"}
    sent = client.get("/v1/me/records", headers=resident(client)["headers"])
    assert sent.status_code == 200
    assert json.loads(sent.headers["X-Pagination"])["total"] == 0
