"""Texts people read come from the catalog, not from Chinese written in the code: the
worker report (page, PDF), the notices and their WeChat fields, and the assessment CSV
keep no Chinese label of their own (issue 21), so English works for all of them."""
from __future__ import annotations

import ast
import datetime as dt
import inspect
import re
from pathlib import Path

from points import i18n
from points.employment import report_pdf, report_text
from points.office import assessment
from points.people import notice_text
from points.workflows import status_words

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
MODULES = (report_text, report_pdf, notice_text, assessment, status_words)


def _strings(module) -> list[tuple[int, str]]:
    """String literals of the code, docstrings left out."""
    tree = ast.parse(inspect.getsource(module))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_no_chinese_label_is_written_in_the_code():
    found = [f"{module.__name__}:{line}: {text}" for module in MODULES
             for line, text in _strings(module) if CJK.search(text)]
    assert not found, "\n".join(found)


def test_no_chinese_is_written_in_the_report_templates():
    for template in (ROOT / "api/templates/report").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not CJK.search(text), template


def test_the_wechat_fields_are_chinese_whatever_the_language():
    today = dt.date(2026, 11, 30)
    cases = {
        ("record_negative", "新增记录"): {"title": "行政处罚", "class": "general",
                                          "department": "市场监管局", "record_id": 1,
                                          "decided_on": "2026-11-25", "repairable": True},
        ("credit_checked", "已查询"): {"department": "市场监管局", "purpose": "inspection",
                                       "matter_ref": "M-1"},
        ("level_changed", "A级"): {"from": "B", "to": "A", "points": 1000},
        ("report_viewed", "被查看"): {"report_no": "CSXY-1"},
        ("identity_moved", "已转移"): {},
        ("repair_decided", "已通过"): {"title": "行政处罚", "answer": "approved",
                                       "department": "市场监管局", "note": None},
    }
    for locale in ("zh", "en"):
        with i18n.use_locale(locale):
            for (kind, result), params in cases.items():
                data = notice_text.wechat(kind, params, today)
                assert data["phrase2"] == result, (locale, kind, data)
    with i18n.use_locale("en"):
        data = notice_text.wechat("identity_moved", {}, today)
        assert data["thing1"] == "实名绑定" and data["thing4"].startswith("该身份证号已由本人")
        # The same labels read in English where English is asked for.
        assert i18n.gettext(notice_text.WECHAT_RESULTS["report_viewed"]) == "viewed"
    assert i18n.catalog("zh")[notice_text.WECHAT_SUBJECTS["level_changed"]] == "信用等级"
