"""The model picker in real Chromium: a session switches to another model from LLM_MODELS and its
next turn talks to it; the choice survives a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Stack
from tests.e2e.web import log_in, shot
from tests.support.llm_server import ScriptedLLM, text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_user_picks_another_model_and_the_next_answer_comes_from_it(
    stack: Stack, llm: ScriptedLLM, page: Page
) -> None:
    llm.push(text("from the default model"), text("from the deep model"))
    log_in(page, stack, "web-picker")
    page.get_by_test_id("mode-lite").click()
    page.get_by_test_id("composer-input").fill("first question")
    page.get_by_test_id("composer-input").press("Enter")
    expect(page).to_have_url(re.compile(r"/chat/[0-9a-f]{16}$"))
    expect(page.get_by_test_id("message-assistant")).to_contain_text("from the default model", timeout=20_000)
    picker = page.get_by_test_id("model-select")
    expect(picker).to_have_value("scripted-model")

    with page.expect_response(lambda r: r.url.endswith("/model") and r.request.method == "PUT") as saved:
        picker.select_option("deep")
    assert saved.value.status == 200
    page.get_by_test_id("composer-input").fill("second question")
    page.get_by_test_id("composer-input").press("Enter")

    expect(page.get_by_test_id("message-assistant").nth(1)).to_contain_text("from the deep model", timeout=20_000)
    assert [r["model"] for r in llm.requests] == ["scripted-model", "deep-v3"]
    shot(page, "model-picker")
    page.reload()
    expect(page.get_by_test_id("model-select")).to_have_value("deep")
