"""A verified binding that moves the person's credit file to another account (issue 18
part 2) ends at once the report links the earlier account shared: a family opening one
gets the Chinese 410 page, the mini-program's read 410, and no view is logged."""
from __future__ import annotations

from tests.builders.residents import bind
from tests.builders.workers import NAME, access_log, at, page_text, report_worker, share, sign_in


def test_the_earlier_accounts_report_links_end_when_the_binding_moves(app, client):
    with at():
        worker = report_worker(app, client, seq=61)
        token = share(client, worker)["token"]
        assert client.get(f"/r/{token}").status_code == 200
        new_phone = sign_in(client, "worker-new-phone")
        bind(client, new_phone, NAME, worker["number"])  # the stand-in verifies the face

        r = client.get(f"/r/{token}")
        assert r.status_code == 410 and r.mimetype == "text/html"
        text = page_text(r.get_data(as_text=True))
        assert "此信用报告链接已过期或已被本人撤销" in text and "王*花" not in text
        r = client.get(f"/v1/reports/{token}", headers=sign_in(client, "family"))
        assert r.status_code == 410 and r.json["error_code"] == "SHARE_EXPIRED", r.json
        assert client.get(f"/v1/reports/{token}.pdf",
                          headers=sign_in(client, "family")).status_code == 410
        # Only the view before the move is in the person's access log, now the new
        # account's, with the move itself.
        purposes = [e["purpose"] for e in access_log(client, new_phone)]
        assert sorted(purposes) == ["credit_report", "identity_moved"]
