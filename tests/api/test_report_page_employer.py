"""The worker report page and PDF a family opens (issue 21 part 6) name the employer
only once its staff confirm the worker (issue 19 part 5), show the reviews given through
shared links, and link to the configured public address (PUBLIC_BASE_URL)."""
from __future__ import annotations

import io
import re

from pypdf import PdfReader

from points.employment.qr import qr_svg
from tests.builders.merchants import approved_merchant
from tests.builders.workers import at, page_text, report_worker, share, sign_in

PUBLIC = "https://credit.example.gov.cn"


def _pdf_text(client, token: str) -> str:
    r = client.get(f"/v1/reports/{token}.pdf", headers=sign_in(client, "family-pdf"))
    assert r.status_code == 200, r.get_data(as_text=True)
    return re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.data)).pages))


def test_the_page_and_pdf_name_the_employer_once_confirmed(app, client):
    with at():
        company = approved_merchant(app, client, name="好管家家政", sector="housekeeping")
        worker = report_worker(app, client, seq=48)
        user_id = client.get("/v1/me", headers=worker["headers"]).json["id"]
        r = client.put("/v1/me/worker-profile", headers=worker["headers"],
                       json={"occupation": "housekeeping", "merchant_id": company["id"]})
        assert r.status_code == 200 and r.json["employer_status"] == "pending", r.json
        token = share(client, worker)["token"]
        pending = page_text(client.get(f"/r/{token}").get_data(as_text=True))
        assert "服务机构未登记经确认的服务机构" in pending and "好管家家政" not in pending
        assert "好管家家政" not in _pdf_text(client, token)

        r = client.post(f"/v1/merchant/workers/{user_id}/confirm", headers=company["headers"])
        assert r.status_code == 200, r.json
        confirmed = page_text(client.get(f"/r/{token}").get_data(as_text=True))
        assert "服务机构好管家家政" in confirmed
        assert "好管家家政" in _pdf_text(client, token)


def test_the_page_shows_the_reviews(app, client):
    with at():
        worker = report_worker(app, client, seq=49)
        token = share(client, worker)["token"]
        for index, rating in enumerate((5, 4)):
            family = sign_in(client, f"family-{index}")
            link = share(client, worker)["token"]
            assert client.get(f"/v1/reports/{link}", headers=family).status_code == 200
            r = client.post(f"/v1/reports/{link}/reviews", headers=family,
                            json={"rating": rating, "comment": "准时"})
            assert r.status_code == 201, r.json
        text = page_text(client.get(f"/r/{token}").get_data(as_text=True))
    assert "服务评价2条评价，平均4.5分（满分5分）" in text and "暂无评价" not in text


def test_the_link_and_its_qr_follow_public_base_url(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", PUBLIC)
    with at():
        worker = report_worker(app, client, seq=50)
        created = share(client, worker)
        html = client.get(f"/r/{created['token']}").get_data(as_text=True)
        pdf = _pdf_text(client, created["token"])
    assert created["url"] == f"{PUBLIC}/r/{created['token']}"
    assert created["qr_svg"] == qr_svg(created["url"], title="长沙市个人信用报告")
    assert created["url"] in html and "127.0.0.1" not in html
    assert f"核验网址：{created['url']}" in pdf
