"""The worker report page on a phone-sized screen (issue 21 part 6): laid out by a real
browser (headless Chromium) 360 px wide, nothing is wider than the screen, so nothing
needs sideways scrolling, and no text is smaller than 12 px. Skipped where Chromium is
not installed (Debian: `apt-get install chromium`)."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.builders.workers import at, report_worker, share

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which(
    "google-chrome")
# Run in the browser after layout (added to a copy of the page: the page itself carries
# no script, and its Content-Security-Policy header would refuse one). The copy is shown
# in a frame 360 px wide (headless Chromium's window is at least 500 px wide), and
# writes what it measured into the title of the page around it.
MEASURE = """<script>
const texts = [...document.body.querySelectorAll('*')].filter(
  e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()));
const widest = Math.max(...[...document.body.querySelectorAll('*')].map(
  e => e.getBoundingClientRect().right));
parent.document.title = JSON.stringify({
  scroll: document.documentElement.scrollWidth, widest: Math.ceil(widest),
  viewport: window.innerWidth,
  smallest: Math.min(...texts.map(e => parseFloat(getComputedStyle(e).fontSize)))});
</script>"""


def _layout(tmp_path, html: str, width: int = 360) -> dict:
    from markupsafe import escape

    framed = html.replace("</body>", MEASURE + "</body>")
    page = tmp_path / "phone.html"
    page.write_text(f'<!doctype html><html><head><title>-</title></head><body style="margin:0">'
                    f'<iframe style="border:0;width:{width}px;height:800px" '
                    f'srcdoc="{escape(framed)}"></iframe></body></html>', encoding="utf-8")
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=800,900", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True)
    start = done.stdout.index("<title>") + len("<title>")
    return json.loads(done.stdout[start:done.stdout.index("</title>", start)]
                      .replace("&quot;", '"'))


@pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium")
@pytest.mark.parametrize("kind", ["report", "gone", "report?lang=en", "gone?lang=en"])
def test_the_page_fits_a_360_px_phone(app, client, tmp_path, kind):
    with at():
        worker = report_worker(app, client, seq=62)
        token = share(client, worker)["token"]
        if kind.startswith("gone"):
            client.delete(f"/v1/me/report-shares/{token}", headers=worker["headers"])
        query = kind.partition("?")[2]
        html = client.get(f"/r/{token}?{query}").get_data(as_text=True)
    layout = _layout(tmp_path, html)
    assert layout["viewport"] == 360, layout
    assert layout["scroll"] <= 360 and layout["widest"] <= 360, layout
    assert layout["smallest"] >= 12, layout
