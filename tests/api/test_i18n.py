"""Chinese first: every error_code the app can answer has its message in Chinese and in
English, and real answers come in Chinese by default and in English with
`Accept-Language: en` — an error, a 422 field message, a score-history reason."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import marshmallow as ma

from api import field_messages
from api.smorest import STATUS_ERROR_CODES, STATUS_MESSAGES
from points import errors as domain
from points import i18n
from tests.builders.departments import department, push
from tests.builders.residents import resident, valid_id

ROOT = Path(__file__).resolve().parents[2]
ERROR_CLASSES = {name for name, cls in inspect.getmembers(domain, inspect.isclass)
                 if issubclass(cls, domain.DomainError)}
EN = {"Accept-Language": "en"}


def _sources():
    for folder in ("api", "points", "incentives"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path.relative_to(ROOT), ast.parse(path.read_text(encoding="utf-8"))


def _callee(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _text(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _sites():
    """(where, error_code, message node) of every domain error raised and every error
    answer written in the code."""
    for path, tree in _sources():
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            name = _callee(call)
            where = f"{path}:{call.lineno}"
            if name in ERROR_CLASSES and call.args:
                code = next((_text(k.value) for k in call.keywords if k.arg == "error_code"),
                            _text(call.args[1]) if len(call.args) > 1 else None)
                yield where, code or getattr(domain, name).default_code, call.args[0]
            elif name == "error_response" and len(call.args) >= 3 and _text(call.args[1]):
                yield where, _text(call.args[1]), call.args[2]


def _constants() -> dict[str, str]:
    """Module constants marked for the catalog: NAME = N_("…")."""
    found = {}
    for _, tree in _sources():
        for node in tree.body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                    and _callee(node.value) == "N_" and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)):
                found[node.targets[0].id] = _text(node.value.args[0])
    return found


def _msgid(node) -> str | None:
    """The message id of `gettext("…", …)` or `gettext(CONSTANT)`, None for anything else."""
    if not (isinstance(node, ast.Call) and _callee(node) == "gettext" and node.args):
        return None
    arg = node.args[0]
    name = arg.id if isinstance(arg, ast.Name) else getattr(arg, "attr", None)
    return _text(arg) or _constants().get(name)


def test_no_error_is_raised_with_an_untranslated_text():
    """A literal or an f-string as the message would reach people in English."""
    plain = [where for where, _, message in _sites()
             if isinstance(message, ast.Constant | ast.JoinedStr | ast.BinOp)]
    assert not plain, f"wrap these messages in gettext(…): {plain}"


def test_every_error_code_has_its_message_in_both_languages():
    codes: dict[str, set[str]] = {}
    for _, code, message in _sites():
        codes.setdefault(code, set())
        if _msgid(message):
            codes[code].add(_msgid(message))
    for status, code in STATUS_ERROR_CODES.items():
        codes.setdefault(code, set()).add(STATUS_MESSAGES[status])
    assert len(codes) > 40 and {"IDENTITY_REQUIRED", "RECORD_NOT_FOUND", "VALIDATION_ERROR",
                                "WECHAT_UNAVAILABLE", "NOT_FOUND"} <= set(codes)
    chinese = i18n.catalog("zh")
    silent = sorted(code for code, msgids in codes.items() if not msgids)
    assert not silent, f"error codes answered with no translatable message: {silent}"
    for code, msgids in codes.items():
        for msgid in msgids:
            with i18n.use_locale("en"):
                english = i18n.gettext(msgid)
            assert english == msgid, code
            assert chinese.get(msgid) and chinese[msgid] != english, (code, msgid)


def test_every_marshmallow_message_is_in_the_catalog():
    """A marshmallow upgrade that adds a message of its own is noticed here."""
    defaults = set(ma.Schema._default_error_messages.values())
    for _, cls in inspect.getmembers(ma.fields, inspect.isclass):
        defaults |= set(getattr(cls, "default_error_messages", {}).values())
    for _, cls in inspect.getmembers(ma.validate, inspect.isclass):
        if issubclass(cls, ma.validate.Range):
            continue  # built in two steps: the final texts are listed
        defaults |= {getattr(cls, attr) for attr in dir(cls)
                     if attr.startswith("message") or attr == "default_message"
                     if isinstance(getattr(cls, attr), str)}
    assert defaults - set(field_messages.MESSAGES) == set()
    assert all(i18n.catalog("zh").get(m) for m in field_messages.MESSAGES)


def test_an_error_is_chinese_by_default_and_english_when_asked(client):
    r = client.get("/v1/me")
    assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
    assert r.json["message"] == "需要访问令牌（Authorization: Bearer …），请先登录"
    assert r.headers["Content-Language"] == "zh"
    assert "Accept-Language" in r.headers.get_all("Vary")
    r = client.get("/v1/me", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert r.json["message"].startswith("需要访问令牌")
    r = client.get("/v1/me", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert r.status_code == 401 and r.json["error_code"] == "UNAUTHENTICATED"
    assert r.json["message"] == "an access token is required (Authorization: Bearer …)"
    assert r.headers["Content-Language"] == "en"
    # werkzeug's own answers too
    r = client.get("/v1/no-such-path")
    assert (r.status_code, r.json["error_code"], r.json["message"]) == (404, "NOT_FOUND", "未找到")
    assert client.get("/v1/no-such-path", headers=EN).json["message"] == "not found"


def test_a_domain_error_with_fields_in_both_languages(client):
    person = resident(client, id_number=valid_id(seq=411))
    body = {"record_id": 999999, "reason": "不是我"}
    r = client.post("/v1/me/objections", headers=person["headers"], json=body)
    assert r.status_code == 404 and r.json["error_code"] == "RECORD_NOT_FOUND"
    assert r.json["message"] == "没有该记录"
    r = client.post("/v1/me/objections", headers={**person["headers"], **EN}, json=body)
    assert r.json["error_code"] == "RECORD_NOT_FOUND" and r.json["message"] == "no such record"


def test_422_field_messages_in_both_languages(client):
    person = resident(client, id_number=valid_id(seq=412))
    body = {"record_id": "x", "unexpected": 1}
    r = client.post("/v1/me/objections", headers=person["headers"], json=body)
    assert r.status_code == 422 and r.json["error_code"] == "VALIDATION_ERROR"
    fields = r.json["errors"]["json"]
    assert fields["record_id"] == ["不是有效的整数。"]
    assert fields["reason"] == ["缺少必填字段。"]
    assert fields["unexpected"] == ["未知字段。"]
    assert r.json["message"] == "部分字段无效，详见 errors"
    r = client.post("/v1/me/objections", headers={**person["headers"], **EN}, json=body)
    fields = r.json["errors"]["json"]
    assert r.json["error_code"] == "VALIDATION_ERROR"
    assert fields["record_id"] == ["Not a valid integer."]
    assert fields["reason"] == ["Missing data for required field."]
    assert fields["unexpected"] == ["Unknown field."]
    # a message with numbers filled in: pagination's range
    r = client.get("/v1/me/points/history?page_size=1000", headers=person["headers"])
    assert r.status_code == 422
    assert r.json["errors"]["query"]["page_size"] == ["须大于等于 1 且小于等于 100。"]


def test_a_history_reason_in_both_languages(app, client):
    number = valid_id(seq=413)
    dept = department(app, client, code="i18n-dept")
    person = resident(client, id_number=number)
    push(client, dept, {"source_ref": "i18n-1", "type": "admin.penalty.minor",
                        "id_number": number, "decided_on": "2026-11-20"})
    [latest, *_] = client.get("/v1/me/points/history", headers=person["headers"]).json
    english = client.get("/v1/me/points/history", headers={**person["headers"], **EN}).json[0]
    name = english["reason"].removeprefix("records reported by ")
    assert english["reason"] == f"records reported by {name}" and name
    assert latest["reason"] == f"{name}报送了记录"
