"""Browser tests: the console in Debian's headless Chromium, driven by Playwright.

The app under test is its own (a SQLite file and the in-process Redis stand-in, so
jobs run at once), served on 127.0.0.1 by a thread of this process. Without
Chromium (or the playwright package) every test here is skipped with the reason;
`.ci/browser` installs Chromium and runs them."""
from __future__ import annotations

import os
import shutil
import threading

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
PORT = int(os.environ.get("CONSOLE_BROWSER_PORT", "8131"))


def chromium_path() -> str | None:
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit and os.path.exists(explicit):
        return explicit
    for path in CHROMIUM_CANDIDATES:
        if os.path.exists(path):
            return path
    return shutil.which("chromium")


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests skipped: the playwright package is not installed")
    path = chromium_path()
    if path is None:
        pytest.skip("browser tests skipped: no Chromium (apt-get install chromium, "
                    "or run .ci/browser)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def live_app(tmp_path_factory, browser):
    from werkzeug.serving import make_server

    from api import create_app
    from api.cli import upgrade_database
    from points.office import workdays
    from tests.builders.servers import whole_answers

    saved = workdays._source  # create_app points the working days at its own database
    url = f"sqlite:///{tmp_path_factory.mktemp('browser')}/console.db"
    upgrade_database(url)
    app = create_app({"TESTING": True, "APP_ENV": "testing", "DATABASE_URL": url,
                      "REDIS_URL": "memory://",
                      "SECRET_KEY": "browser-secret-key-0123456789-abcdefghijklmnop",
                      "DATA_KEY": "browser-data-key", "RATELIMIT_ENABLED": False})
    server = make_server("127.0.0.1", PORT, whole_answers(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["BASE"] = f"http://127.0.0.1:{PORT}"
    yield app
    server.shutdown()
    thread.join(5)
    app.state.db.engine.dispose()
    workdays.configure(saved)
    workdays.invalidate()


@pytest.fixture
def page(browser, live_app):
    context = browser.new_context(base_url=live_app.config["BASE"], locale="zh-CN",
                                  viewport={"width": 1280, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    yield tab
    context.close()
