"""Browser fixtures (a pytest plugin, see tests/conftest.py): Debian's Chromium driven by Playwright
(sync API). One browser for the whole run: Playwright's sync API allows one at a time.

The server comes from the suite's `live_server` fixture (tests/conftest.py: PostgreSQL, Redis, a
Celery worker, localstripe with our webhook registered, uvicorn). Setting EE_E2E_URL points the
test at a server you already run instead (e.g. `effigies up`), without starting a stack.

Chromium is never downloaded: it is /usr/bin/chromium (apt-get install chromium) or $EE_CHROMIUM.
A missing browser fails the test; it is never skipped.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    candidates = [os.environ.get("EE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "Chromium not found: install Debian's (`apt-get install -y chromium`) or set EE_CHROMIUM "
        "to a Chromium executable. The browser test fails rather than skips without it.",
        pytrace=False,
    )


@dataclass
class Server:
    url: str


@pytest.fixture(scope="session")
def e2e_server(request: pytest.FixtureRequest) -> Server:
    url = os.environ.get("EE_E2E_URL")
    if url:
        return Server(url=url.rstrip("/"))
    live = request.getfixturevalue("live_server")
    return Server(url=str(live.url).rstrip("/"))


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_context(browser, server: Server, **options):
    """A fresh browser profile (cookies, localStorage) on our server: desktop size, French, Paris."""
    settings = {
        "base_url": server.url,
        "viewport": {"width": 1280, "height": 900},
        "locale": "fr-FR",
        "timezone_id": "Europe/Paris",
        **options,
    }
    context = browser.new_context(**settings)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    context.set_default_timeout(30_000)
    return context


@pytest.fixture
def new_context(browser, e2e_server: Server, request: pytest.FixtureRequest):
    """Opens more profiles in one test (an admin and a plain user side by side), closed after it."""
    opened = []
    refused: list[str] = []  # what the Content-Security-Policy blocked, on any page of the test

    def watch_policy(page) -> None:
        page.on("console", lambda msg: "Content Security Policy" in msg.text and refused.append(f"{page.url}: {msg.text}"))

    def factory(**options):
        context = open_context(browser, e2e_server, **options)
        context.on("page", watch_policy)
        opened.append(context)
        return context

    request.node._ee_contexts = opened  # for the failure screenshots below
    yield factory
    for context in opened:
        context.close()
    assert refused == [], "the page did something its Content-Security-Policy refuses"


@pytest.fixture
def context(new_context):
    return new_context()


ARTEFACTS = Path(__file__).resolve().parents[1] / "test-results"


@pytest.fixture
def screenshots() -> Path:
    """Where a test saves its screenshots: test-results/screenshots (artefacts, git-ignored), or
    $EE_SCREENSHOTS_DIR when set — `make screenshots` points it at docs/screenshots for README."""
    target = Path(os.environ["EE_SCREENSHOTS_DIR"]) if os.environ.get("EE_SCREENSHOTS_DIR") else ARTEFACTS / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test leaves a picture of each page it had open in test-results/failures."""
    report = yield
    if report.when == "call" and report.failed:
        folder = ARTEFACTS / "failures"
        for c, context in enumerate(getattr(item, "_ee_contexts", [])):
            for p, page in enumerate(context.pages):
                name = f"{item.name}-{c}-{p}.png".replace("/", "_").replace("[", "-").replace("]", "")
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(folder / name), full_page=True, timeout=5_000)
                except Exception as exc:  # a crashed page must not hide the test's own failure
                    report.sections.append(("failure screenshot", f"{name}: {exc}"))
    return report


def open_signup_link(page, email: str) -> None:
    """After "Create my account": the page says to check the inbox; open the link the server's real
    SMTP sink received (read through its local outbox), in this tab, as a click in the e-mail would."""
    import re
    from urllib.parse import urlsplit

    import httpx
    from playwright.sync_api import expect

    expect(page.get_by_test_id("signup-sent")).to_be_visible()
    base = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    messages = httpx.get(f"{base}/api/mail/outbox", params={"to": email.lower()}, timeout=30).json()["messages"]
    link = next(m for m in (re.search(r"https?://\S+/#/signup/confirm\?\S+", x["text"]) for x in messages) if m)
    page.goto(link.group(0))
