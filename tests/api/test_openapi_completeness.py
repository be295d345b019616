"""The OpenAPI document is complete enough to build a client from it alone.

Every operation has an operationId, a summary, its `security`, an example for each request
body, error answers listing their error_codes (declared by the view with `errors(...)`,
api/smorest.py), and every schema property has a type. Examples match their schemas.
Each failure names the operation or schema and exactly what is missing."""
from __future__ import annotations

import copy
import re

import pytest
from openapi_schema_validator import OAS30Validator

METHODS = {"get", "post", "put", "patch", "delete"}
HOW = "(how: the docstring of api/smorest.py)"
# Operations without an error body, and why.
NO_ERROR_BODY = {  # their 503 is their own body naming the part that is down
    "GET /v1/health": "the health body", "GET /v1/health/ready": "the health body"}


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get("/openapi.json").json


def _operations(spec):
    for path, item in sorted(spec["paths"].items()):
        for method, operation in sorted(item.items()):
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def _views(app) -> dict[str, tuple[str, object]]:
    """'METHOD /path' (as the document writes it) → (endpoint, view function)."""
    views = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods & {m.upper() for m in METHODS}:
            views[f"{method} {path}"] = (rule.endpoint, app.view_functions[rule.endpoint])
    return views


def _error_responses(operation):
    for status, response in operation["responses"].items():
        if status[0] in "45":
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") == "#/components/schemas/Error" or "allOf" in schema:
                yield status, response, schema


def test_every_operation_names_itself_and_its_caller(spec):
    missing = []
    for name, operation in _operations(spec):
        for key in ("operationId", "summary", "description", "security"):
            if key not in operation or (key != "security" and not operation[key]):
                missing.append(f"{name}: no {key}" + {
                    "summary": " (write a docstring: its first line is the summary)",
                    "description": " (write a second paragraph in the view's docstring: "
                                   "who may call, what changes, what a client must know)",
                }.get(key, f" {HOW}"))
    assert not missing, "\n".join(missing)


def test_every_view_declares_its_error_codes(app, spec):
    views = _views(app)
    missing = []
    for name, _ in _operations(spec):
        endpoint, view = views[name]
        if getattr(view, "_error_codes", None) is None:
            missing.append(f"{name} ({endpoint}): no @blp.errors(...) naming the error_codes "
                           f"the view can answer (@blp.errors() if none of its own) {HOW}")
    assert not missing, "\n".join(missing)


def test_every_error_answer_lists_its_error_codes(spec):
    missing = []
    for name, operation in _operations(spec):
        answers = list(_error_responses(operation))
        if not answers and name not in NO_ERROR_BODY:
            missing.append(f"{name}: no error answers documented {HOW}")
        for status, response, schema in answers:
            codes = (schema.get("allOf", [{}, {}])[1].get("properties", {})
                     .get("error_code", {}).get("enum"))
            if not codes:
                missing.append(f"{name} {status}: the error body does not list its error_codes "
                               f"(declare them with @blp.errors(\"CODE\", …)) {HOW}")
                continue
            for code in codes:
                if f"`{code}`:" not in response["description"]:
                    missing.append(f"{name} {status}: the description does not explain {code}")
            if status in {"429", "503"} and "Retry-After" not in response.get("headers", {}):
                missing.append(f"{name} {status}: no Retry-After header documented")
    assert not missing, "\n".join(missing)


def test_every_request_body_has_an_example(spec):
    missing = []
    for name, operation in _operations(spec):
        for content_type, content in operation.get("requestBody", {}).get("content", {}).items():
            if "example" not in content and "examples" not in content:
                missing.append(f"{name}: no example for the {content_type} body (give its "
                               f"schema an EXAMPLE, or @blp.arguments(..., example=...)) {HOW}")
    assert not missing, "\n".join(missing)


def _untyped(schema: dict, where: str) -> list[str]:
    """Every property, array item or branch below `schema` that has no type."""
    found = []
    for key in ("allOf", "oneOf", "anyOf"):
        for index, branch in enumerate(schema.get(key, [])):
            found += _untyped(branch, f"{where} {key}[{index}]")
    if "$ref" in schema or any(k in schema for k in ("allOf", "oneOf", "anyOf")):
        return found
    if "type" not in schema:
        return [(f"{where}: no type (a typed marshmallow field, or metadata={{\"type\": …}} "
                f"on a Function/Raw field)")]
    for prop, sub in schema.get("properties", {}).items():
        found += _untyped(sub, f"{where}.{prop}")
    if schema["type"] == "array":
        found += _untyped(schema.get("items") or {}, f"{where}[]")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and extra:
        found += _untyped(extra, f"{where}.*")
    return found


def test_every_schema_property_has_a_type(spec):
    missing = []
    for name, schema in sorted(spec["components"]["schemas"].items()):
        for prop, sub in schema.get("properties", {}).items():
            missing += _untyped(sub, f"schema {name}.{prop}")
    for name, operation in _operations(spec):
        for parameter in operation.get("parameters", []):
            if "$ref" not in parameter:
                missing += _untyped(parameter.get("schema", {}),
                                    f"{name} parameter {parameter['name']}")
    assert not missing, "\n".join(missing)


def _resolved(node, spec):
    """`node` with every $ref replaced by what it names (the document has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _resolved(target, spec)
        return {key: _resolved(value, spec) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolved(item, spec) for item in node]
    return node


def _examples(spec):
    for name, operation in _operations(spec):
        for content_type, content in operation.get("requestBody", {}).get("content", {}).items():
            if "example" in content and content_type == "application/json":
                yield f"{name} request body", content["schema"], content["example"]
        for status, response in operation["responses"].items():
            content = response.get("content", {}).get("application/json", {})
            if "example" in content:
                yield f"{name} {status}", content["schema"], content["example"]


def test_every_example_matches_its_schema(spec):
    wrong, seen = [], 0
    for where, schema, example in _examples(spec):
        seen += 1
        validator = OAS30Validator(_resolved(copy.deepcopy(schema), spec))
        wrong += [f"{where}: {error.json_path} {error.message}"
                  for error in validator.iter_errors(example)]
    assert not wrong, "\n".join(wrong)
    assert seen > 300  # the request bodies, the main answers and every error answer


def test_closed_sets_and_dates_are_typed(spec):
    """Spot checks that enums and formats reach the document from the domain's constants."""
    from incentives.models import SECTORS
    from incentives.perks import LEVELS
    from points.employment.workers import SAFETY_CODES
    from points.rules.engine import STATUSES

    schemas = spec["components"]["schemas"]
    assert schemas["Points"]["properties"]["level"]["enum"] == list(LEVELS)
    assert schemas["Record"]["properties"]["status"]["enum"] == list(STATUSES)
    assert schemas["PublicPerk"]["properties"]["sector"]["enum"] == list(SECTORS)
    assert schemas["WorkerStatus"]["properties"]["safety_code"]["enum"] == list(SAFETY_CODES)
    assert schemas["PublicPerk"]["properties"]["valid_from"]["format"] == "date"
    assert schemas["Item"]["properties"]["counted_from"]["format"] == "date"
    record = schemas["IncomingRecord"]
    assert set(record["required"]) == {"source_ref", "subject", "type"}
    assert record["properties"]["decided_on"]["format"] == "date"
    assert schemas["RuleSetPublic"]["properties"]["levels"]["items"] == {
        "$ref": "#/components/schemas/RuleLevel"}
    export = spec["paths"]["/v1/me/export"]["get"]["responses"]["200"]
    assert export["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Export"}
