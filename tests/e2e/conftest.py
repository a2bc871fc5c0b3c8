"""Browser tests: Playwright's sync API driving Debian's /usr/bin/chromium against pytest-django's live server.

Never `playwright install`: the browser is the system's. Without it (or without the playwright
package) a `browser` test is skipped on a developer machine and FAILS under CI=true, like the
`postgres` marker (tests/conftest.py's need_service).

Screenshots (the ones the tests take on purpose, and one per failed test) go to var/test-artifacts/.
"""

import os
import re
from pathlib import Path

# Playwright's sync API runs an event loop in the test's thread; Django refuses ORM calls from a
# thread with a running loop unless told this is fine (it is: the loop only talks to the browser).
# Set before playwright starts.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import pytest  # noqa: E402
from django.conf import settings  # noqa: E402

from tests.conftest import need_service  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts"
TIMEOUT_MS = 8_000  # actions, navigations and expect(): generous for a loaded 2-core box, never a sleep
VIEWPORT = {"width": 1440, "height": 900}  # ≥ md: the header search box is hidden on narrow screens

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = expect = None


def _missing_browser():
    if sync_playwright is None:
        return "needs the playwright Python package (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium; never `playwright install`)"
    return None


@pytest.fixture(autouse=True)
def _browser_marker(request):
    if request.node.get_closest_marker("browser") and (reason := _missing_browser()):
        need_service(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"_report_{report.when}", report)  # read by `page` to keep a screenshot of failures
    return report


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium():
    """One headless browser for the whole session (a launch costs about a second)."""
    if reason := _missing_browser():
        need_service(reason)
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, timeout=30_000,
            args=["--disable-dev-shm-usage", "--disable-gpu"],
        )
    except Exception:
        playwright.stop()
        raise
    expect.set_options(timeout=TIMEOUT_MS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def page(request, chromium, live_server, artifacts):
    """A fresh context (no cookies) per test, its URLs relative to the live server."""
    context = chromium.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    yield page
    report = getattr(request.node, "_report_call", None)
    if report is not None and report.failed:
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        page.screenshot(path=str(artifacts / f"failed-{name}.png"), full_page=True)
    context.close()


@pytest.fixture
def login(page):
    """Log in through the admin login form, as a person would; lands on the console home."""

    def log_in(username, password="pw"):
        page.goto("/admin/login/?next=/console/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.locator("#login-form button[type=submit]").click()
        page.wait_for_url(re.compile(r"/console/$"))
        return page

    return log_in
