"""The worker report in English (issue 21): the `/r/{token}` page and its 404 and 410
pages with `Accept-Language: en` or `?lang=en` (a phone's browser language decides
otherwise, so the page links to its other language), and the PDF with `Accept-Language:
en`, its font still embedded. Chinese stays the default."""
from __future__ import annotations

import io
import re

from pypdf import PdfReader

from tests.builders.workers import at, page_text, report_worker, share, sign_in

EN = {"Accept-Language": "en"}
# Words of the Chinese page that must not be left on the English one.
CHINESE_LABELS = ("家政服务人员信用报告", "安心码", "基本信息", "核验项目", "培训记录",
                  "服务评价", "报告信息", "北京时间", "黄码", "学时")


def test_the_page_is_english_with_accept_language_and_links_back_to_chinese(app, client):
    with at():
        worker = report_worker(app, client, seq=641)
        token = share(client, worker, ttl=90)["token"]
        r = client.get(f"/r/{token}", headers=EN)
    assert r.status_code == 200 and r.headers["Content-Language"] == "en"
    html = r.get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert '<html lang="en">' in html
    assert "Housekeeping worker credit report" in text
    assert "Safety code: Yellow" in text and "check the missing documents first" in text
    assert "The liability insurance expired on June 14, 2026" in text
    assert "no confirmed employer on record" in text
    assert "Level A (信用良好) means 960 to 1029 points." in text  # the rule set's title
    assert "This report shows the level only, never the points." in text
    assert "verified (January 5, 2026)" in text
    assert "Health certificate" in text and "valid (valid until December 31, 2026)" in text
    assert "40 hours (completed February 1, 2026)" in text
    assert "(minor negative record" in text and "counts until" in text
    assert "No reviews yet" in text and "(Beijing time)" in text
    assert not [label for label in CHINESE_LABELS if label in text]
    # The switch to Chinese, named in Chinese.
    assert '<a href="?lang=zh" hreflang="zh" lang="zh-CN">中文</a>' in html


def test_lang_in_the_link_chooses_the_page_language_over_the_browser(app, client):
    with at():
        worker = report_worker(app, client, seq=642)
        token = share(client, worker, ttl=90)["token"]
        chinese = client.get(f"/r/{token}")
        english = client.get(f"/r/{token}?lang=en")
        back = client.get(f"/r/{token}?lang=zh", headers=EN)
        unknown = client.get(f"/r/{token}?lang=fr")
    # Chinese by default, with the switch to English.
    assert chinese.headers["Content-Language"] == "zh"
    html = chinese.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "安心码：黄码" in page_text(html)
    assert '<a href="?lang=en" hreflang="en" lang="en">English</a>' in html
    assert english.headers["Content-Language"] == "en"
    assert "Safety code: Yellow" in english.get_data(as_text=True)
    assert back.headers["Content-Language"] == "zh"
    assert "安心码：黄码" in page_text(back.get_data(as_text=True))
    assert unknown.status_code == 200 and unknown.headers["Content-Language"] == "zh"
    # Each view is a view (logged), whatever its language.
    assert all(r.status_code == 200 for r in (chinese, english, back))


def test_the_404_and_410_pages_in_english(app, client):
    r = client.get("/r/no-such-token?lang=en")
    assert r.status_code == 404 and r.headers["Content-Language"] == "en"
    assert "No such credit report" in r.get_data(as_text=True)
    assert "没有找到这份信用报告" in page_text(client.get("/r/no-such-token").get_data(
        as_text=True))
    with at():
        worker = report_worker(app, client, seq=643)
        token = share(client, worker)["token"]
        client.delete(f"/v1/me/report-shares/{token}", headers=worker["headers"])
        r = client.get(f"/r/{token}", headers=EN)
    assert r.status_code == 410 and r.headers["Content-Language"] == "en"
    html = r.get_data(as_text=True)
    assert "has expired or was revoked by the worker" in html and "撤销" not in html


def test_the_pdf_in_english_embeds_its_font(app, client):
    with at():
        worker = report_worker(app, client, seq=644)
        created = share(client, worker)
        family = sign_in(client, "family-en")
        english = client.get(f"/v1/reports/{created['token']}.pdf", headers={**family, **EN})
        chinese = client.get(f"/v1/reports/{created['token']}.pdf", headers=family)
    assert english.status_code == 200 and english.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(english.data))
    for font in (f.get_object() for page in reader.pages
                 for f in page["/Resources"]["/Font"].values()):
        assert "/FontFile2" in font["/FontDescriptor"].get_object()
        assert re.fullmatch(r"/[A-Z]{6}\+WenQuanYiMicroHei-0", font["/BaseFont"])
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))
    assert "Changsha personal credit report" in text
    assert "Safety code: Yellow (yellow)" in text
    assert "The liability insurance expired on June 14, 2026" in text
    assert "Credit level: A (信用良好)" in text and "Vocational skill certificates" in text
    assert f"Verify at: {created['url']}" in text and "page 1" in text
    assert not [label for label in CHINESE_LABELS if label in text]
    chinese_text = "".join(page.extract_text() for page in PdfReader(
        io.BytesIO(chinese.data)).pages)
    assert "安心码：黄码（yellow）" in re.sub(r"\s+", "", chinese_text)
