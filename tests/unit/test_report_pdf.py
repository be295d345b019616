"""The printable report: Chinese text extractable, long lists and lines flowing onto
further pages instead of being cut."""
from __future__ import annotations

import datetime as dt
import io
import re

from pypdf import PdfReader

from points.employment.report_pdf import render

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
        "report_no": "CSXY-20260615-00000007",
    }
    return {**base, **changes}


def pages_of(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def text_of(pdf: bytes) -> str:
    pages = pages_of(pdf)
    assert len(pages) == 1
    return pages[0]


def test_red_code_and_empty_sections():
    text = text_of(render(report(), "https://credit.example/v1/reports/abc"))
    assert "长沙市个人信用报告" in text
    assert "红码" in text and "red" in text
    assert "未核验" in text and "有犯罪记录" in text and "不建议安排上门服务" in text
    assert "有效期至2026年12月31日" in text and "暂无评价" in text
    assert "11:00" in text  # the link's expiry in Beijing time
    assert "CSXY-20260615-00000007" in text


def test_long_lists_flow_onto_more_pages():
    training = [{"course": f"课程{i}", "hours": 8, "completed_on": DAY} for i in range(40)]
    negatives = [{"type": "admin.penalty.minor", "title": f"行政处罚（轻微）{i}号",
                  "class": "minor", "decided_on": DAY, "counted_until": None}
                 for i in range(30)]
    pages = pages_of(render(report(training=training, negative_records=negatives,
                                   reviews={"count": 3, "average": 4.7}), "https://x/r/abc"))
    assert len(pages) >= 2
    text = "".join(pages)
    assert all(f"课程{i}，8学时" in text for i in range(40))
    assert all(f"行政处罚（轻微）{i}号" in text for i in range(30))
    assert "3条评价，平均4.7分" in text
    # Every page says which report it belongs to.
    assert all("报告编号 CSXY-20260615-00000007" in page for page in pages)


def test_english_report_wraps_between_words_and_keeps_its_labels():
    """The English report: its own labels, nothing Chinese, and its lines broken between
    words (no word cut at a line's end)."""
    from points.employment.report_text import CODE_MEANINGS
    from points.i18n import use_locale

    long_course = ("Home care and first aid for families with newborn babies, elderly "
                   "members and people recovering from surgery, with practical exercises")
    training = [{"course": long_course, "hours": 8, "completed_on": DAY}] * 3
    with use_locale("en"):
        text = text_of(render(report(training=training, name_masked="W*"),
                              "https://credit.example/r/abc"))
    words = set(re.findall(r"[A-Za-z]+", text))
    expected = " ".join([CODE_MEANINGS["red"], long_course, ("Scan the QR code or open the "
                         "link to see this report as it is now; once the link expires or "
                         "the worker revokes it, it cannot be opened. Every view is recorded "
                         "in the worker's credit access log.")])
    cut = sorted(set(re.findall(r"[A-Za-z]+", expected)) - words)
    assert not cut, f"words cut at a line end: {cut}"
    assert "Changsha personal credit report" in text and "Safety code: Red (red)" in text
    assert "June 15, 2026" in text and "No reviews yet" in text
    assert not re.search(r"[\u4e00-\u9fff]", text)  # nothing Chinese in this report
