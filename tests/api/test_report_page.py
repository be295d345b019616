"""The worker report a family opens from the QR code: the `/r/{token}` web page (its
content, its 404 and 410 pages, its headers, the view in the worker's access log),
the QR codes as standalone SVG documents, and the PDF with its embedded font."""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
from pypdf import PdfReader

from points.employment.qr import QUIET_ZONE, qr_svg
from points.recordkeeping import records
from tests.builders.workers import (
    LONG_COURSE,
    access_log,
    at,
    page_text,
    report_worker,
    share,
    sign_in,
)

SVG = "{http://www.w3.org/2000/svg}"
STATEMENT = "罚款已于当日全额缴清，<b>今后</b>注意"


@pytest.fixture
def with_statements(monkeypatch):
    """Records carrying the worker's statement (说明), as the statements feature
    gives them to the report."""
    original = records.subject_records

    def subject_records(session, subject_id, today):
        return [{**r, "statement": STATEMENT if r["kind"] == "negative" else None}
                for r in original(session, subject_id, today)]

    monkeypatch.setattr(records, "subject_records", subject_records)


# ------------------------------------------------------------------ the web page

def test_report_page_shows_the_report_without_sign_in(app, client, with_statements):
    with at():
        worker = report_worker(app, client, seq=41)
        created = share(client, worker, ttl=90)
        r = client.get(f"/r/{created['token']}")
        shares = client.get("/v1/me/report-shares", headers=worker["headers"]).json
        log = access_log(client, worker["headers"])
        report = client.get(f"/v1/reports/{created['token']}",
                            headers=sign_in(client, "family")).json

    assert r.status_code == 200
    assert r.content_type == "text/html; charset=utf-8"
    html = r.get_data(as_text=True)
    text = page_text(html)
    assert '<html lang="zh-CN">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    # Who, for whom, and the safety code with its meaning and this worker's reason.
    assert "王*花" in text and "家政服务员" in text
    assert "安心码：黄码" in text and "请先核实缺少的材料" in text
    assert "为什么是黄码" in text and "责任保险已于2026年6月14日到期" in text
    assert "未登记经确认的服务机构" in text
    # The level and what it means, never the points.
    assert "A·信用良好" in text and "A级（信用良好）对应积分960至1029分" in text
    assert "本报告只显示等级，不显示积分" in text
    # Each check with its date, training (whole, however long), certificates.
    assert "身份核验已核验（2026年1月5日）" in text
    assert "背景审查无犯罪记录（2026年1月6日）" in text
    assert "健康证明有效（有效期至2026年12月31日）" in text
    assert page_text(LONG_COURSE) in text and "40学时" in text
    assert "家政服务员四级（2026年3月1日取得）" in text
    # The counting negative record with the worker's statement, escaped.
    assert "家政服务有效投诉（轻微失信" in text and "计入至2026年9月9日" in text
    assert "本人说明：罚款已于当日全额缴清，&lt;b&gt;今后&lt;/b&gt;注意" in text
    assert "暂无评价" in text
    # The report number (as in the JSON) and until when the link works (Beijing time).
    assert report["report_no"] in text
    assert "至2026-06-1511:30（北京时间）" in text
    assert created["url"] in html
    # Nothing the family must not see.
    assert worker["number"] not in html and "李大妈" not in html and "花瓶" not in html

    # The view is logged in the worker's access log (no account: the link holder).
    assert [(e["actor_kind"], e["purpose"]) for e in log] == [("report_viewer",
                                                                "credit_report")]
    assert shares[0]["views"] == 1


def test_report_page_headers_allow_no_script(app, client):
    with at():
        worker = report_worker(app, client, seq=42)
        token = share(client, worker)["token"]
        r = client.get(f"/r/{token}")
    assert r.status_code == 200
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "frame-ancestors 'none'" in csp and "form-action 'none'" in csp
    nonce = re.search(r"style-src 'nonce-([^']+)'", csp).group(1)
    html = r.get_data(as_text=True)
    assert f'<style nonce="{nonce}">' in html
    assert "<script" not in html.lower()
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in r.headers["X-Robots-Tag"]
    assert '<meta name="robots" content="noindex, nofollow, noarchive">' in html
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Frame-Options"] == "DENY"


def test_report_page_head_is_not_a_view(app, client):
    with at():
        worker = report_worker(app, client, seq=43)
        token = share(client, worker)["token"]
        assert client.head(f"/r/{token}").status_code == 200
        assert client.head("/r/no-such-token").status_code == 404
        assert access_log(client, worker["headers"]) == []


def test_report_page_unknown_link_is_a_chinese_404(client):
    r = client.get("/r/not-a-real-token")
    assert r.status_code == 404 and r.mimetype == "text/html"
    text = page_text(r.get_data(as_text=True))
    assert "没有找到这份信用报告" in text
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]


def test_report_page_revoked_or_expired_link_is_a_chinese_410(app, client):
    with at():
        worker = report_worker(app, client, seq=44)
        revoked, expiring = share(client, worker), share(client, worker, ttl=30)
        r = client.delete(f"/v1/me/report-shares/{revoked['token']}", headers=worker["headers"])
        assert r.status_code == 204
        r = client.get(f"/r/{revoked['token']}")
        assert r.status_code == 410 and r.mimetype == "text/html"
        assert "此信用报告链接已过期或已被本人撤销" in page_text(r.get_data(as_text=True))
        assert client.get(f"/r/{expiring['token']}").status_code == 200
    with at(minute=30):
        r = client.get(f"/r/{expiring['token']}")
        assert r.status_code == 410
        text = page_text(r.get_data(as_text=True))
        assert "此信用报告链接已过期或已被本人撤销" in text and "王*花" not in text
        # Only the view while the link worked is in the worker's log.
        assert len(access_log(client, sign_in(client, worker["openid"]))) == 1


def test_report_page_is_in_the_openapi_document(client):
    spec = client.get("/openapi.json").json
    responses = spec["paths"]["/r/{token}"]["get"]["responses"]
    assert "text/html" in responses["200"]["content"]
    assert {"404", "410"} <= set(responses)


# ------------------------------------------------------------------ QR codes

def assert_standalone_qr(svg: str) -> None:
    """A document of its own: the SVG namespace, a white ground under the whole
    picture, and the quiet zone of four modules before the first dark module."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert svg.startswith('<svg viewBox="0 0 ') and 'xmlns="http://www.w3.org/2000/svg"' in svg
    side = int(root.attrib["width"])
    assert root.attrib["viewBox"] == f"0 0 {side} {side}" and root.attrib["height"] == str(side)
    paths = root.iter(f"{SVG}path")
    ground, modules = next(paths), next(paths)
    size = side // 4  # modules across, quiet zone included (scale 4)
    assert ground.attrib["fill"] == "#fff"
    assert ground.attrib["d"] == f"M0 0h{size}v{size}h-{size}z"
    assert modules.attrib["stroke"] == "#000"
    assert modules.attrib["d"].startswith(f"M{QUIET_ZONE} {QUIET_ZONE}.5")


def test_qr_svg_is_a_standalone_document():
    assert_standalone_qr(qr_svg("http://127.0.0.1:8000/r/abc"))
    titled = ET.fromstring(qr_svg("x", title="长沙市个人信用报告"))
    assert titled.find(f"{SVG}title").text == "长沙市个人信用报告"


def test_share_qr_encodes_the_page_url(app, client):
    with at():
        worker = report_worker(app, client, seq=45)
        created = share(client, worker)
    assert created["url"].startswith("http://127.0.0.1:8000/r/")
    assert_standalone_qr(created["qr_svg"])
    assert created["qr_svg"] == qr_svg(created["url"], title="长沙市个人信用报告")


def test_verification_code_qr_is_a_standalone_document(client):
    from tests.builders.residents import resident

    person = resident(client)
    r = client.post("/v1/me/verification-tokens", headers=person["headers"])
    assert r.status_code == 201, r.json
    assert_standalone_qr(r.json["qr_svg"])


# ------------------------------------------------------------------ the PDF

def test_pdf_embeds_its_font_and_explains_the_report(app, client, with_statements):
    with at():
        worker = report_worker(app, client, seq=46)
        created = share(client, worker)
        r = client.get(f"/v1/reports/{created['token']}.pdf", headers=sign_in(client, "fam"))
        report_no = client.get(f"/v1/reports/{created['token']}",
                               headers=sign_in(client, "fam")).json["report_no"]
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(r.data))

    # Every font the pages use is embedded as a TrueType subset (FontFile2).
    fonts = [font.get_object() for page in reader.pages
             for font in page["/Resources"]["/Font"].values()]
    assert fonts
    for font in fonts:
        descriptor = font["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor, font["/BaseFont"]
        assert re.fullmatch(r"/[A-Z]{6}\+WenQuanYiMicroHei-0", font["/BaseFont"])

    text = "".join(page.extract_text() for page in reader.pages)
    flat = re.sub(r"\s+", "", text)
    assert "长沙市个人信用报告" in flat and "王*花" in flat
    assert "安心码：黄码（yellow）" in flat and "请先核实缺少的材料" in flat
    assert "责任保险已于2026年6月14日到期" in flat
    assert "信用等级：A（信用良好）" in flat and "A级（信用良好）对应积分960至1029分" in flat
    # A long line wraps onto the next instead of being cut.
    assert page_text(LONG_COURSE) in flat
    assert "本人说明：罚款已于当日全额缴清，<b>今后</b>注意" in flat
    assert f"报告编号{report_no}" in flat
    assert f"核验网址：{created['url']}" in flat
    assert worker["number"] not in flat and "李大妈" not in flat


# ------------------------------------------------------------------ WeChat's check file

def test_wechat_check_file_is_served_under_the_rule(app, client, monkeypatch):
    """WeChat verifies the rule "{PUBLIC_BASE_URL}/r/" by fetching its check file from
    that folder; any other name there is still a report token."""
    monkeypatch.setitem(app.config, "WECHAT_QRCODE_CHECK_FILE", "MLz5rjPqa3.txt")
    monkeypatch.setitem(app.config, "WECHAT_QRCODE_CHECK_CONTENT",
                        "46abf487e24b3c588d9fcada6b86f5ca")
    r = client.get("/r/MLz5rjPqa3.txt")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    assert r.get_data(as_text=True) == "46abf487e24b3c588d9fcada6b86f5ca"
    assert client.get("/r/Other.txt").status_code == 404


def test_wechat_check_file_name_is_checked_at_start():
    from api.config import ConfigError, load_config

    assert load_config({"WECHAT_QRCODE_CHECK_FILE": "MLz5rjPqa3.txt"})[
        "WECHAT_QRCODE_CHECK_FILE"] == "MLz5rjPqa3.txt"
    for bad in ("../secret.txt", "check.html", "a b.txt"):
        with pytest.raises(ConfigError):
            load_config({"WECHAT_QRCODE_CHECK_FILE": bad})


def test_report_json_carries_the_statement_text(app, client, with_statements):
    with at():
        worker = report_worker(app, client, seq=47)
        token = share(client, worker)["token"]
        report = client.get(f"/v1/reports/{token}", headers=sign_in(client, "family")).json
    assert [r["statement"] for r in report["negative_records"]] == [STATEMENT]
