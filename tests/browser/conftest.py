"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

The browser is the system one (`/usr/bin/chromium`, which `.ci/run` installs): Playwright's own
browser download is not used, so `playwright install` is never needed. Without that file the
tests are skipped on a developer's machine and fail in CI (`CI` set), where they must run.

Fixtures: `browser` (one Chromium for the whole tests/browser package), `page` and `context`
(a fresh browser context per test: no cookies, 1280×800, relative URLs against the live
server), `base_url`, and `live_server` (pytest-django's, one request at a time on SQLite). A
test using them runs with a transactional database: what it creates is committed and seen by
the server, and the database is emptied after it. Helpers (`log_in`, `force_login`,
`screenshot`) are in `tests.browser.support`. A failed test leaves a screenshot of each open
page in test-results/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from fulfillment.desk.permissions import ensure_agents_group
from orders.models import SalesChannel
from tests import factories
from tests.browser.support import SCREENSHOTS, safe_name

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    # The test process runs as root in CI, where Chromium's sandbox refuses to start.
    "--no-sandbox",
    "--disable-gpu",
    # No update checks or field trials: the machine reaches package registries only.
    "--disable-background-networking",
]
# Generous for a loaded 2-core CI machine, short enough that a wrong locator fails quickly
# (Playwright's default is 30 s).
ACTION_TIMEOUT_MS = 10_000
expect.set_options(timeout=ACTION_TIMEOUT_MS)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for all browser tests.

    Package scope, not session: while Playwright's sync API is started it keeps an asyncio loop
    running in the main thread, and Django refuses ORM calls from a thread with a running loop
    (SynchronousOnlyOperation). Our tests are plain synchronous code that only waits on the
    browser, so DJANGO_ALLOW_ASYNC_UNSAFE is set exactly while Playwright runs; stopping it
    after the last browser test gives the rest of the suite Django's normal check back.
    """
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{message}: browser tests must run in CI", pytrace=False)
        pytest.skip(message)
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # the folder shows the last run only
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield chromium
            chromium.close()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Django's default hasher costs about a second per user made and per sign-in on a CI
    # machine; these tests are about screens, not password storage. The live server thread
    # reads the same settings object, so its login form checks with this hasher too.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class OneRequestAtATime:
    """A WSGI app that lets one request in at a time, body included."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            response = self.app(environ, start_response)
            try:
                body = b"".join(response)
            finally:
                if hasattr(response, "close"):
                    response.close()  # Django's request_finished: connections tidied here
        return [body]


@pytest.fixture(scope="session")
def live_server(request, django_db_setup) -> Iterator[LiveServer]:
    """pytest-django's live server, serving one request at a time on SQLite.

    On SQLite the test database is in memory and every server thread shares the test's one
    connection, so two requests at once (a double click with JavaScript off, htmx requests in
    parallel) interleave their transactions on it: "no such savepoint", or one request's
    rollback undoing the other's writes. On PostgreSQL each thread has its own connection and
    requests stay concurrent, as in production: tests of simultaneous requests belong there.
    """
    address = (
        request.config.getvalue("liveserver")
        or os.environ.get("DJANGO_LIVE_TEST_SERVER_ADDRESS")
        or "localhost"
    )
    server = LiveServer(address, start=False)
    if server.thread.connections_override:  # only for an in-memory SQLite database
        static_handler = server.thread.static_handler
        server.thread.static_handler = lambda app: OneRequestAtATime(static_handler(app))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def base_url(live_server) -> str:
    return live_server.url


@pytest.fixture
def context(browser: Browser, base_url: str) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """When a browser test fails, save what each of its pages showed at that moment."""
    report = yield
    context = getattr(item, "funcargs", {}).get("context")
    if report.failed and report.when in ("setup", "call") and context is not None:
        name = safe_name(item.nodeid.removeprefix("tests/browser/"))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for number, open_page in enumerate(context.pages, start=1):
            path = SCREENSHOTS / f"FAILED-{name}-{number}.png"
            try:
                open_page.screenshot(path=path, full_page=True)
            except Exception as error:  # a crashed page must not hide the test's own failure
                report.sections.append(("screenshot", f"{path}: {error}"))
            else:
                report.sections.append(("screenshot", str(path)))
    return report


# --- The desk's world: an agent, the call-center channel, a store, a customer ---------------


@pytest.fixture(autouse=True)
def _test_database_before_the_live_server(django_db_setup):
    """The session's live server shares the test database's connection (one request at a time
    on SQLite) only if that database exists when the server starts; run alone, a module
    would otherwise start it first and two simultaneous requests would each get their own
    connection ("database table is locked")."""


@pytest.fixture
def agent(db):
    # The migration creates the Agents group; the live server's flush removed it.
    user = factories.UserFactory(username="agent-ann", first_name="Ann", last_name="Agent")
    user.groups.add(ensure_agents_group())
    return user


@pytest.fixture
def shop(catalogue):
    """The call-center channel, a pickup store near the customer with stock of everything,
    and the customer with a saved address in Manhattan."""
    factories.SalesChannelFactory(
        code="call-center", name="Call center", type=SalesChannel.Type.CALL_CENTER
    )
    catalogue[2].name = "Blue kettle"
    catalogue[2].save()
    store = factories.LocationFactory(
        code="STORE-NYC",
        name="Store NYC",
        type="store",
        allows_pickup=True,
        ships_orders=False,
        city="New York",
        priority=50,
    )
    for sku in catalogue:
        factories.stock(sku, store, 5)
    customer = factories.CustomerFactory(
        email="grace.hopper@navy.example", first_name="Grace", last_name="Hopper"
    )
    factories.AddressFactory(
        customer=customer, line1="1 Liberty Plaza", city="New York", postal_code="10006"
    )
    return customer
