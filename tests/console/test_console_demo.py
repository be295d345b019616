"""`make run`'s demo data: a console clerk per demo department, printed with its
password, the same after every run, and able to sign in at once."""
from __future__ import annotations

import re

from tests.builders.console import sign_in


def test_seed_demo_prints_a_clerk_per_department_who_can_sign_in(app, client):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    clerks = re.findall(r"console clerk of (\w+) \(.+?\): (\S+) / (\S+)", first.output)
    assert {code for code, _, _ in clerks} == {"market", "civil"}
    assert "/console/" in first.output and "admin / admin-demo-2026" in first.output
    second = runner.invoke(args=["seed-demo"])
    assert re.findall(r"console clerk of (\w+) \(.+?\): (\S+) / (\S+)", second.output) == clerks
    for code, username, password in clerks:
        browser = app.test_client()
        r = sign_in(browser, username, password)
        assert r.headers["Location"].endswith("/console/")  # no password change asked
        assert code in browser.get("/console/dept/", follow_redirects=True).get_data(as_text=True) \
            or "雨花区" in browser.get("/console/dept/").get_data(as_text=True)
    office = app.test_client()
    sign_in(office, "admin", "admin-demo-2026")
    assert office.get("/console/office/").status_code == 200
