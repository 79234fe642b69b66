"""Browser tests: a real server (waitress in a thread) and Debian's chromium through Playwright.

Without /usr/bin/chromium these tests are skipped with the reason, unless
HELPLINE_TEST_REQUIRE_BROWSER=1 (CI), when its absence is a failure.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.accessibility import Audit, AuditedBrowser

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("HELPLINE_TEST_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# axe-core's record for the whole run: a page pattern is checked once (tests/e2e/accessibility.py).
AXE = Audit()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a browser test passes, axe-core checks the pages it reached; a violation fails it."""
    AXE.failures()  # a previous test's leftovers are not this test's
    try:
        result = yield
    except BaseException:
        AXE.contexts.clear()  # a failed test's pages are not worth checking
        raise
    if "browser" in getattr(item, "fixturenames", ()):
        AXE.check_all()
        found = AXE.failures()
        if found:
            pytest.fail(f"axe-core found accessibility violations:\n{found}", pytrace=False)
    return result


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if AXE.checked:
        terminalreporter.write_line(f"axe-core checked {len(AXE.checked)} page patterns: "
                                    + " ".join(sorted(AXE.checked)))


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if REQUIRE_BROWSER:
            pytest.fail(f"{CHROMIUM} is missing and HELPLINE_TEST_REQUIRE_BROWSER=1")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRE_BROWSER:
            pytest.fail("the playwright package is missing and HELPLINE_TEST_REQUIRE_BROWSER=1")
        pytest.skip("the playwright package is not installed")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield AuditedBrowser(chromium, AXE)
        chromium.close()


@pytest.fixture
def settings(tmp_path, database_url):  # type: ignore[no-untyped-def]
    from helpline.config import settings_for_tests

    return settings_for_tests(tmp_path, database_url=database_url,
                              require_second_factor_for_all=True, log_level="WARNING")


@pytest.fixture
def live_server(app, monkeypatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    # Every page of a counselor holds up to two streams (the queues, the offers), each a
    # server thread, and LIVE_STREAMS_MAX of each kind may be open: the server has more
    # threads than both kinds together, so that a form or a webhook never waits for one, as
    # `helpline serve` does. A stream notices that its browser left only when it next writes:
    # quiet offer streams write every second here, so that those of pages left behind end soon.
    from waitress import create_server

    from dashboard import offers

    monkeypatch.setattr(offers, "KEEPALIVE_SECONDS", 1.0)
    most = app.extensions["helpline"].settings.live_streams_max
    server = create_server(app, host="127.0.0.1", port=0, threads=2 * most + 8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


def streams_open(app) -> int:  # type: ignore[no-untyped-def]
    """How many live streams (queues, offers) the app is serving now."""
    most = app.extensions["helpline"].settings.live_streams_max
    open_now = 0
    for name in ("live_streams", "offer_streams"):
        slots = app.extensions.get(name)
        if slots is None:
            continue
        free = 0
        while slots.acquire(blocking=False):
            free += 1
        for _ in range(free):
            slots.release()
        open_now += max(0, most - free)
    return open_now


@pytest.fixture
def page(browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.console_errors = errors
    yield page
    context.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
