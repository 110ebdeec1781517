"""Helpers for browser tests: sign in, take screenshots. Fixtures are in conftest.py."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.test import Client
from playwright.sync_api import Page

# test-results/ is git-ignored; CI keeps what the run leaves there.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
# What tests.factories.UserFactory sets for every user.
PASSWORD = "secret-pass"


def safe_name(text: str) -> str:
    """`text` as a file name: anything but letters, digits, dots and dashes becomes a dash."""
    return re.sub(r"[^\w.-]+", "-", text).strip("-")


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as test-results/screenshots/<name>.png and return the path."""
    path = SCREENSHOTS / f"{safe_name(name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=path, full_page=True)
    return path


def log_in(page: Page, path: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through a Django login form at `path` the way a person does: type, press Enter.

    Works for the admin's and the desk's login pages (both label the fields Username and
    Password). Returns once the form is submitted; follow with an `expect(...)` on what the
    next page shows, which waits for it.
    """
    page.goto(path)
    page.get_by_label("Username").fill(username)
    password_field = page.get_by_label("Password")
    password_field.fill(password)
    password_field.press("Enter")


def force_login(page: Page, user, base_url: str) -> None:
    """Give the page's browser context a signed-in session without the login form.

    For tests about something else than signing in: saves a page load per test.
    """
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": base_url}]
    )
