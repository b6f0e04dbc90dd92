"""What the web app shows is what happened: stop is "Stopped" (and really stops), rows keep the
log's order, errors can be retried, refused input leaves nothing behind, lite looks like a chat,
and a deleted task's URL is a not-found page. Real Chromium, the real stack, the scripted model."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from agents.models import Turn
from sessions import eventlog
from sessions.models import Session
from tests.e2e.conftest import Stack
from tests.e2e.test_web_agent import call, plan, start_agent_task
from tests.e2e.web import log_in, shot
from tests.support.llm_server import ScriptedLLM, error, slow, text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NO_SPINNER = "[data-testid='timeline'] .spinner, [data-testid='plan'] .spinner, [data-testid='session-running']"


def start_lite_chat(page: Page, message: str) -> str:
    page.get_by_test_id("mode-lite").click()
    page.get_by_test_id("composer-input").fill(message)
    page.get_by_test_id("composer-input").press("Enter")
    expect(page).to_have_url(re.compile(r"/chat/[0-9a-f]{16}$"))
    return page.url.rsplit("/", 1)[-1]


def expect_stopped(page: Page) -> None:
    expect(page.get_by_test_id("session-status")).to_have_text("Stopped", timeout=20_000)
    expect(page.get_by_test_id("task-stopped")).to_be_visible()
    expect(page.get_by_test_id("session-stopped")).to_have_text("Stopped")  # the sidebar
    expect(page.get_by_test_id("task-completed")).to_have_count(0)
    expect(page.locator(NO_SPINNER)).to_have_count(0)
    expect(page.get_by_test_id("stop")).to_have_count(0)


def test_a_stopped_lite_answer_reads_stopped_and_keeps_what_was_said_after_a_reload(
    stack: Stack, llm: ScriptedLLM, page: Page
) -> None:
    llm.push(text("Anchors " * 300, chunk_size=8, delay_per_chunk=0.05))
    log_in(page, stack, "honest-lite")
    session_id = start_lite_chat(page, "Write a very long poem")
    # A lite chat wears no agent chrome.
    expect(page.get_by_test_id("open-files")).to_have_count(0)
    expect(page.get_by_test_id("toggle-computer")).to_have_count(0)
    expect(page.get_by_test_id("message-assistant")).to_contain_text("Anchors", timeout=20_000)
    expect(page.get_by_test_id("stop")).to_have_attribute("aria-label", "Stop")

    page.get_by_test_id("stop").click()

    expect_stopped(page)
    expect(page.get_by_test_id("cut-short")).to_have_text("Stopped: the answer was cut short.")
    stored = [e for e in eventlog.events_after(session_id, 0) if e["type"] == "message"]
    assert [(e["role"], e["cut_short"]) for e in stored] == [("user", False), ("assistant", True)]
    shown = page.get_by_test_id("message-assistant").locator(".assistant-body").inner_text()
    assert shown.split() == stored[1]["content"].split()  # what was read is what is kept
    page.reload()
    expect_stopped(page)
    expect(page.get_by_test_id("cut-short")).to_be_visible()
    expect(page.get_by_test_id("message-assistant")).to_have_count(1)


def test_retry_after_an_error_answers_and_the_error_stays_in_the_history(
    stack: Stack, llm: ScriptedLLM, page: Page
) -> None:
    llm.push(error(401), text("Hello again!"))
    log_in(page, stack, "honest-retry")
    session_id = start_lite_chat(page, "Say hello")
    expect(page.get_by_test_id("session-status")).to_have_text("Failed", timeout=20_000)

    page.get_by_test_id("retry").click()

    expect(page.get_by_test_id("message-assistant").locator(".assistant-body")).to_have_text(
        "Hello again!", timeout=20_000
    )
    expect(page.get_by_test_id("session-status")).to_have_text("Completed")
    expect(page.locator("[role='alert']").filter(has_text="rejected the API key")).to_have_count(1)
    expect(page.get_by_test_id("task-completed")).to_have_count(0)  # a chat answer is no "task"
    expect(page.get_by_test_id("regenerate")).to_be_visible()
    assert [t.status for t in Turn.objects.filter(session_id=session_id).order_by("created_at")] == [
        "failed",
        "completed",
    ]


def test_an_over_long_message_and_an_oversized_upload_leave_nothing_behind(
    stack: Stack, page: Page, tmp_path: Path
) -> None:
    log_in(page, stack, "honest-limits")
    sent: list[str] = []

    def remember(request: Request) -> None:
        if "/api/v1/sessions" in request.url or "/api/v1/files" in request.url:
            sent.append(f"{request.method} {request.url}")

    page.on("request", remember)
    composer = page.get_by_test_id("composer-input")
    composer.fill("x" * 100_500)

    expect(page.get_by_test_id("composer-count")).to_have_text("100,500 / 100,000")
    expect(page.get_by_test_id("composer-too-long")).to_have_text(
        "This message is 500 characters over the limit of 100,000. Shorten it, or attach the text as a file."
    )
    expect(page.get_by_test_id("send")).to_be_disabled()
    composer.press("Enter")

    big = tmp_path / "harbour.mov"
    with big.open("wb") as fh:
        fh.truncate(60 * 1024 * 1024)  # sparse: 60 MB on paper
    page.get_by_test_id("composer").locator("input[type=file]").set_input_files(str(big))
    expect(page.get_by_test_id("composer-attachment")).to_contain_text(
        "Too large to attach: 60 MB; files can be at most 50 MB."
    )

    time.sleep(1)  # anything the page would still send has left by now
    assert [s for s in sent if not s.startswith("GET")] == []
    assert (Session.objects.count(), Turn.objects.count()) == (0, 0)
    expect(page.get_by_test_id("session-item")).to_have_count(0)


def test_a_deleted_tasks_url_is_a_not_found_page_without_a_composer(stack: Stack, llm: ScriptedLLM, page: Page) -> None:
    llm.push(text("Short answer."))
    log_in(page, stack, "honest-deleted")
    start_lite_chat(page, "Hello")
    expect(page.get_by_test_id("message-assistant")).to_contain_text("Short answer.", timeout=20_000)
    url = page.url
    page.get_by_test_id("session-item").hover()
    page.get_by_role("button", name=re.compile("^Delete")).click()
    page.get_by_test_id("confirm-delete-button").click()
    expect(page.get_by_test_id("session-item")).to_have_count(0)

    page.goto(url)

    expect(page.get_by_test_id("not-found")).to_be_visible()
    expect(page.get_by_test_id("chat-title")).to_have_text("Not found")
    expect(page.get_by_test_id("composer-input")).to_have_count(0)
    expect(page.get_by_test_id("session-status")).to_have_count(0)
    page.get_by_test_id("not-found-home").click()
    expect(page.get_by_test_id("composer-input")).to_be_visible()


# --- agent tasks (real sandboxes) ------------------------------------------------------------


def timeline_order(page: Page) -> list[str]:
    """The timeline's rows top to bottom, as 'user:<text>', 'assistant:<text>' or 'tool:<label>'."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll(
                '[data-testid=timeline] :is([data-testid=message-user], [data-testid=message-assistant],'
                + ' [data-testid=tool-row])')].map((el) => {
                const kind = el.dataset.testid === 'tool-row' ? 'tool' : el.dataset.testid.slice(8)
                const body = el.querySelector('.assistant-body') ?? el
                return kind + ':' + body.innerText.trim().split('\\n')[0]
            })"""
        )
    )


def test_tool_rows_after_an_answer_come_after_it_also_after_a_reload(
    stack: Stack, llm: ScriptedLLM, page: Page, stack_env: dict[str, str]
) -> None:
    home = "/home/ubuntu" if stack_env["SANDBOX_BACKEND"] == "docker" else "/workspace"
    llm.push(
        plan("Ask for the harbour, then look it up"),
        call("message_ask_user", {"text": "Which harbour?"}, "c_ask"),
        call("shell_exec", {"id": "main", "exec_dir": home, "command": "echo looking-up-harbour"}, "c_sh"),
        call("complete_step", {"success": True, "result": "Found it"}, "c_done"),
        call("deliver_result", {"message": "Rotterdam is open.", "attachments": []}, "c_result"),
    )
    log_in(page, stack, "honest-order")
    start_agent_task(page, "Check a harbour")
    expect(page.get_by_test_id("waiting-banner")).to_be_visible(timeout=60_000)
    page.get_by_test_id("composer-input").fill("Rotterdam")
    page.get_by_test_id("composer-input").press("Enter")
    expect(page.get_by_test_id("message-assistant").filter(has_text="Rotterdam is open.")).to_have_count(
        1, timeout=60_000
    )

    live = timeline_order(page)
    page.reload()
    expect(page.get_by_test_id("message-assistant").filter(has_text="Rotterdam is open.")).to_have_count(1)
    reloaded = timeline_order(page)

    assert live == reloaded
    assert live.index("user:Rotterdam") < live.index("tool:Ran echo looking-up-harbour")
    assert live.index("tool:Ran echo looking-up-harbour") < live.index("assistant:Rotterdam is open.")


def shell_output(stack: Stack, page: Page, session_id: str) -> str:
    """The last command's output in the sandbox's `main` shell, read through Anker's shell API."""
    # The page's own session cookie, and the CSRF token Django set beside it (as the web app sends it).
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"{stack.base_url}/api/v1/sessions/{session_id}/shell",
        data={"session_id": "main"},
        headers={"X-CSRFToken": csrf, "Referer": stack.base_url + "/"},
    )
    assert response.status == 200, response.text()
    body: dict[str, Any] = response.json()
    return str(body["data"]["console"][-1]["output"])


def test_stopping_an_agent_task_interrupts_its_command_and_reads_stopped_after_a_reload(
    stack: Stack, llm: ScriptedLLM, page: Page, stack_env: dict[str, str]
) -> None:
    home = "/home/ubuntu" if stack_env["SANDBOX_BACKEND"] == "docker" else "/workspace"
    loop = "for i in $(seq 1 600); do echo tick $i; sleep 1; done"
    llm.push(
        plan("Count the ships"),
        call("shell_exec", {"id": "main", "exec_dir": home, "command": loop}, "c_loop"),
        call("shell_wait", {"id": "main", "seconds": 600}, "c_wait"),
        slow(call("complete_step", {"success": True, "result": "never"}, "c_never"), 120.0),
    )
    log_in(page, stack, "honest-agent-stop")
    session_id = start_agent_task(page, "Count the ships")
    expect(page.get_by_test_id("tool-row").filter(has_text="Waiting")).to_be_visible(timeout=90_000)
    expect(page.get_by_test_id("stop")).to_have_attribute("aria-label", "Stop the task")

    page.get_by_test_id("stop").click()

    expect_stopped(page)
    expect(page.get_by_test_id("step").first).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_test_id("tool-stopped")).to_have_count(1)
    expect(page.get_by_test_id("plan-step").first).to_have_attribute("data-status", "cancelled")
    # The command was interrupted in the sandbox: its console says so and prints no more.
    printed = shell_output(stack, page, session_id)
    assert printed.endswith("[interrupted: the task was stopped]")
    time.sleep(2.5)
    assert shell_output(stack, page, session_id) == printed
    page.get_by_test_id("tool-row").last.click()
    expect(page.get_by_test_id("shell-record").last).to_contain_text("[interrupted: the task was stopped]")
    shot(page, "agent-stopped")
    page.reload()
    expect_stopped(page)
    expect(page.get_by_test_id("step").first).to_have_attribute("data-status", "cancelled")
    assert Session.objects.get(pk=session_id).status == "stopped"
