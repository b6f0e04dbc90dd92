"""The web app in real Chromium (Playwright) against the real stack and the scripted model."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Stack
from tests.e2e.web import log_in, shot
from tests.support.llm_server import ScriptedLLM, slow, text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def start_lite_task(page: Page, message: str) -> None:
    page.get_by_test_id("mode-lite").click()
    page.get_by_test_id("composer-input").fill(message)
    page.get_by_test_id("composer-input").press("Enter")
    expect(page).to_have_url(re.compile(r"/chat/[0-9a-f]{16}$"))


def test_a_user_logs_in_chats_and_sees_the_answer_stream_then_reloads(
    stack: Stack, llm: ScriptedLLM, page: Page
) -> None:
    answer = "Anchors hold **fast**; the tide pulls on.\n\n- iron\n- rope\n- patience"
    llm.push(text(answer, chunk_size=3, delay_per_chunk=0.03))
    log_in(page, stack, "web-alice")
    shot(page, "home")

    start_lite_task(page, "Write a short poem about anchors")

    expect(page.get_by_test_id("message-user")).to_have_text(re.compile("Write a short poem about anchors"))
    assistant = page.get_by_test_id("message-assistant")
    expect(assistant).to_contain_text("Anchors hold fast", timeout=20_000)
    expect(assistant.locator("strong")).to_have_text("fast")
    expect(assistant.locator("li")).to_have_text(["iron", "rope", "patience"])
    expect(page.get_by_test_id("session-item")).to_have_count(1)
    expect(page.get_by_test_id("session-title")).to_have_text("Write a short poem about anchors")
    expect(page.get_by_test_id("session-unread")).to_have_count(0)  # the user is watching it
    shot(page, "chat-lite")

    page.reload()

    expect(page.get_by_test_id("message-user")).to_have_count(1)
    expect(page.get_by_test_id("message-assistant")).to_have_count(1)
    expect(page.get_by_test_id("message-assistant")).to_contain_text("patience")

    # A follow-up is one JSON call: the answer arrives over the WebSocket, no SSE stream is opened.
    llm.push(text("A second verse.", chunk_size=4))
    page.get_by_test_id("composer-input").fill("One more verse")
    with page.expect_response(lambda r: r.url.endswith("/chat") and r.request.method == "POST") as sent:
        page.get_by_test_id("composer-input").press("Enter")
    response = sent.value
    assert response.status == 200
    assert response.request.headers["accept"] == "application/json"
    assert response.headers["content-type"] == "application/json"
    assert response.json()["data"]["status"] in ("queued", "running", "completed")
    expect(page.get_by_test_id("message-assistant")).to_have_count(2, timeout=20_000)
    expect(page.get_by_test_id("message-assistant").nth(1)).to_contain_text("A second verse.")


def test_stop_ends_a_slow_answer_and_the_session_shows_stopped(stack: Stack, llm: ScriptedLLM, page: Page) -> None:
    llm.push(slow(text("never shown"), 30.0))
    log_in(page, stack, "web-bob")

    start_lite_task(page, "Think for a long time")
    llm.wait_for_requests(1, timeout=15)
    stop = page.get_by_test_id("stop")
    expect(stop).to_be_visible()
    stop.click()

    expect(page.get_by_test_id("stop")).to_have_count(0, timeout=15_000)
    expect(page.get_by_test_id("send")).to_be_visible()
    expect(page.get_by_test_id("message-assistant")).to_have_count(0)
    expect(page.get_by_test_id("session-running")).to_have_count(0)
    expect(page.get_by_test_id("session-status")).to_have_text("Stopped")
