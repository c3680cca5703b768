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


@pytest.fixture
def context(browser, e2e_server: Server):
    context = browser.new_context(
        base_url=e2e_server.url,
        viewport={"width": 1280, "height": 900},
        locale="fr-FR",
        timezone_id="Europe/Paris",
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=e2e_server.url)
    context.set_default_timeout(30_000)
    yield context
    context.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """README's screenshots are refreshed on purpose (`make screenshots`), not by every run."""
    target = Path(os.environ["EE_SCREENSHOTS_DIR"]) if os.environ.get("EE_SCREENSHOTS_DIR") else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    return target
