"""Every error_code raised in the code is in the catalogue the OpenAPI document is built
from (points.errors.CODES, api.error_docs.HTTP_CODES), as the status it is answered
with, and the catalogue holds no code nothing answers."""
from __future__ import annotations

import ast
import pathlib

from api.error_docs import HTTP_CODES, KIND_STATUS, catalogue
from points import errors as domain

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("api", "points", "incentives")
KINDS = {cls.__name__: KIND_STATUS[cls.kind] for cls in (
    domain.NotFound, domain.Conflict, domain.Forbidden, domain.Unauthenticated, domain.Gone,
    domain.Invalid, domain.TooManyAttempts, domain.Unavailable, domain.TooLarge,
    domain.Unsupported)}


def _literal_codes(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literal_codes(node.body) + _literal_codes(node.orelse)
    return []


def raised_codes() -> list[tuple[str, int, str]]:
    """(code, status, where) for every domain error made with a literal code, and every
    `error_response(status, code, …)` of the HTTP layer."""
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                code_arg = None
                if name in KINDS:
                    code_arg = node.args[1] if len(node.args) > 1 else next(
                        (k.value for k in node.keywords if k.arg == "error_code"), None)
                    status = KINDS[name]
                elif name in {"error_response", "_refuse"}:
                    args = node.args[1:] if name == "_refuse" else node.args
                    if len(args) > 1 and isinstance(args[0], ast.Constant):
                        status, code_arg = args[0].value, args[1]
                for code in _literal_codes(code_arg) if code_arg is not None else []:
                    found.append((code, status, where))
    return found


def test_every_raised_code_is_in_the_catalogue_with_its_status():
    known = catalogue()
    found = raised_codes()
    assert len(found) > 80
    wrong = [f"{where}: {code} answered {status}, catalogue says "
             f"{known[code][0] if code in known else 'nothing (add it to points.errors.CODES)'}"
             for code, status, where in found if known.get(code, (None,))[0] != status]
    assert not wrong, "\n".join(wrong)


def test_the_catalogue_holds_no_code_nothing_answers():
    raised = {code for code, _, _ in raised_codes()}
    # Answered without a literal in a raise: the kinds' defaults and the HTTP layer's.
    defaults = {cls.default_code for cls in domain.DomainError.__subclasses__()}
    stale = set(domain.CODES) - raised - defaults
    assert not stale, f"in points.errors.CODES but never raised: {sorted(stale)}"
    assert not set(domain.CODES) & set(HTTP_CODES)


def test_every_code_means_something():
    for code, (status, meaning) in catalogue().items():
        assert code.isupper() and 400 <= status < 600, code
        assert len(meaning) > 15 and meaning != code, code


def test_a_view_declares_codes_statuses_and_notes():
    import pytest

    from api.smorest import Blueprint

    def view():
        """A view."""

    view = Blueprint.errors("QUOTA_EXHAUSTED", 404, notes={"OWN_CODE": "not yours"},
                            descriptions={429: "ACCOUNT_LOCKED: wait", 413: "too big"})(view)
    assert view._error_codes == {"QUOTA_EXHAUSTED": None, "NOT_FOUND": None,
                                 "OWN_CODE": "not yours", "ACCOUNT_LOCKED": "wait",
                                 "PAYLOAD_TOO_LARGE": "too big"}
    with pytest.raises(ValueError, match="add it to points.errors.CODES"):
        Blueprint.errors("NO_SUCH_CODE")
