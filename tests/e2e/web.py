"""The browser side of the web app's end-to-end tests: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.bootstrap import ROOT
from tests.conftest import PASSWORD, make_user
from tests.support.ci import in_ci

if TYPE_CHECKING:
    from tests.e2e.conftest import Stack

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
DIST = ROOT / "frontend" / "dist" / "index.html"


def require(condition: bool, reason: str) -> None:
    if not condition:
        if in_ci():
            pytest.fail(f"{reason} (required in CI)")
        pytest.skip(reason)


def browser_session() -> Iterator[Browser]:
    require(Path(CHROMIUM).exists(), "Debian's chromium is not installed")
    require(DIST.exists(), "the web app is not built (make frontend)")
    # Playwright's sync API keeps an event loop in this thread; Django would refuse the test's
    # own ORM calls (creating users, flushing the database) without this documented opt-out.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def page_session(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def log_in(page: Page, stack: Stack, username: str) -> None:
    make_user(username)
    page.goto(f"{stack.base_url}/")
    expect(page.get_by_test_id("login-form")).to_be_visible()
    shot(page, "login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("composer-input")).to_be_visible()


def expect_screen_shows(
    page: Page, container_test_id: str, rgb: tuple[int, int, int], timeout_ms: int = 30_000
) -> None:
    """Wait until the noVNC canvas inside the container has the colour `rgb` at a point of the
    sandbox's screen below Chromium's toolbar: the screen is live, not a first frame left over."""
    page.wait_for_function(
        """([testId, rgb]) => {
            const canvas = document.querySelector(`[data-testid="${testId}"] canvas`)
            if (!canvas || canvas.width < 100 || canvas.height < 100) return false
            const x = Math.floor(canvas.width * 0.75), y = Math.floor(canvas.height * 0.75)
            const [r, g, b] = canvas.getContext('2d').getImageData(x, y, 1, 1).data
            return Math.abs(r - rgb[0]) + Math.abs(g - rgb[1]) + Math.abs(b - rgb[2]) < 24
        }""",
        arg=[container_test_id, list(rgb)],
        timeout=timeout_ms,
    )
