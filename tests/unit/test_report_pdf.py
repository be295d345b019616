"""The printable report: one page, Chinese text extractable, long lists cut short."""
from __future__ import annotations

import datetime as dt
import io

from pypdf import PdfReader

from points.report_pdf import render

DAY = dt.date(2026, 6, 15)


def report(**changes):
    base = {
        "name_masked": "王*花", "id_number_masked": "4301**********1234",
        "occupation": "housekeeping", "safety_code": "red", "level": "B",
        "identity": {"verified": False, "verified_on": None},
        "background": {"result": "flagged", "checked_on": dt.date(2026, 1, 6)},
        "health_certificate": {"valid": False, "valid_until": None},
        "insurance": {"valid": True, "valid_until": dt.date(2026, 12, 31)},
        "training": [], "skill_certificates": [], "licenses": [],
        "negative_records": [], "reviews": {"count": 0, "average": None},
        "as_of": DAY, "expires_at": dt.datetime(2026, 6, 15, 3, 0, tzinfo=dt.UTC),
    }
    return {**base, **changes}


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    return reader.pages[0].extract_text()


def test_red_code_and_empty_sections():
    text = text_of(render(report(), "https://credit.example/v1/reports/abc"))
    assert "长沙市个人信用报告" in text
    assert "红码" in text and "red" in text
    assert "未核验" in text and "有记录" in text
    assert "有效期至 2026-12-31" in text and "暂无评价" in text
    assert "11:00" in text  # the link's expiry in Beijing time


def test_long_lists_stay_on_one_page():
    training = [{"course": f"课程{i}", "hours": 8, "completed_on": DAY} for i in range(12)]
    negatives = [{"type": "admin.penalty.minor", "title": "行政处罚（轻微）", "class": "minor",
                  "decided_on": DAY, "counted_until": None} for _ in range(9)]
    text = text_of(render(report(training=training, negative_records=negatives,
                                 reviews={"count": 3, "average": 4.7}), "https://x/r/abc"))
    assert "课程3" in text and "课程4" not in text
    assert "另有 8 项" in text and "另有 5 项" in text
    assert "3 条，平均 4.7 分" in text
