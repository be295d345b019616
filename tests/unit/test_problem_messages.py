"""Every problem message ingestion writes is in the catalog (points.recordkeeping.problem_messages),
so a department reads it in its language: the texts written in place in
points/recordkeeping/ingestion.py are found in its source, each given in Chinese by translate_text."""
from __future__ import annotations

import ast
import inspect

from points import i18n
from points.recordkeeping import ingestion, problem_messages


def _sample(node: ast.AST) -> str | None:
    """The text a message argument writes: a literal, a module constant, or an f-string
    with a sample value in each field."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and isinstance(getattr(ingestion, node.id, None), str):
        return getattr(ingestion, node.id)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(value.value)
            else:
                parts.append("'sample'" if value.conversion == ord("r") else "sample")
        return "".join(parts)
    return None  # a message made elsewhere (the engine's, an ID number's): marked there


def _written() -> list[tuple[int, str]]:
    tree = ast.parse(inspect.getsource(ingestion))
    found = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "problem" and len(call.args) == 3:
            text = _sample(call.args[2])
            if text is not None:
                found.append((call.lineno, text))
    return found


def test_ingestion_writes_problems():
    assert len(_written()) >= 15


def test_every_problem_ingestion_writes_is_translated():
    with i18n.use_locale("zh"):
        untranslated = [(line, text) for line, text in _written()
                        if i18n.translate_text(text) == text]
    assert not untranslated, ("add these to points/recordkeeping/problem_messages.py (and translate "
                              f"them): {untranslated}")


def test_the_listed_messages_are_translated_with_their_fields():
    with i18n.use_locale("zh"):
        for message in problem_messages.INGESTION:
            assert i18n.gettext(message) != message
    with i18n.use_locale("zh"):
        assert (i18n.translate_text("department 'market' may not report 'x.y'")
                == "部门 'market' 无权报送 'x.y'")
