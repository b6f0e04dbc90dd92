"""Share links in real Chromium: the owner shares a task from its header (a file kept private),
a logged-out browser opens the link, replays it at its recorded pace and steps through it, sees
the screenshot through the link, and reaches nothing else; a revoked link stops working."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, Page, expect

from sessions.events import FileInfo, MessageEvent, PlanEvent, PlanStep, StatusEvent, StepEvent, TitleEvent, ToolEvent
from sessions.files import StoredFile, file_store
from sessions.models import Session
from sessions.publisher import event_publish
from sessions.services import session_create
from tests.e2e.conftest import Stack
from tests.e2e.web import log_in, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (the browser must decode the screenshot, not just fetch it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def recorded_task(owner: Any) -> tuple[Session, dict[str, StoredFile]]:
    """An agent task as a turn leaves it in the log: the question with two attachments, a plan,
    a step with a shell call and a browser call (with its screenshot), the answer with a report."""
    session = session_create(owner_id=owner.pk, mode="agent")

    def store(name: str, data: bytes, **extra: Any) -> StoredFile:
        return file_store(owner_id=owner.pk, filename=name, data=data, session_id=session.id, **extra)

    files = {
        "notes": store("notes.txt", b"tide notes"),
        "diary": store("diary.txt", b"my private diary"),
        "shot": store("screenshot-call_2.png", png(64, 40, (200, 30, 30)), source="screenshot"),
        "report": store("report.md", b"# Tides", source="agent"),
    }
    infos = [FileInfo(**files[name].info().model_dump()) for name in ("notes", "diary")]
    publish = lambda event: event_publish(session.id, event)  # noqa: E731
    publish(MessageEvent(role="user", content="When is high tide in Hamburg?", attachments=infos))
    publish(StatusEvent(status="running"))
    publish(TitleEvent(title="High tide in Hamburg"))
    publish(PlanEvent(steps=[PlanStep(id="1", description="Look up the tide table", status="pending")]))
    publish(StepEvent(id="1", description="Look up the tide table", status="running"))
    publish(
        ToolEvent(
            tool_call_id="call_1",
            name="shell",
            function="shell_exec",
            args={"id": "main", "command": "date"},
            status="calling",
        )
    )
    console = [{"ps1": "ubuntu@sandbox:~ $", "command": "date", "output": "Tue Dec  1 09:00:00 UTC 2026"}]
    publish(
        ToolEvent(
            tool_call_id="call_1",
            name="shell",
            function="shell_exec",
            args={"id": "main", "command": "date"},
            status="called",
            content={"console": console},
        )
    )
    browser_args = {"url": "https://tides.example/hamburg"}
    publish(
        ToolEvent(
            tool_call_id="call_2", name="browser", function="browser_navigate", args=browser_args, status="calling"
        )
    )
    publish(
        ToolEvent(
            tool_call_id="call_2",
            name="browser",
            function="browser_navigate",
            args=browser_args,
            status="called",
            content={"screenshot_file_id": files["shot"].file_id, "url": browser_args["url"], "title": "Tides"},
        )
    )
    publish(StepEvent(id="1", description="Look up the tide table", status="completed"))
    report = FileInfo(**files["report"].info().model_dump())
    publish(MessageEvent(role="assistant", content="High tide is at **06:12**.", attachments=[report]))
    publish(StatusEvent(status="completed"))
    return session, files


def shown_messages(page: Page) -> list[str]:
    return page.locator("[data-testid=message-user], [data-testid=message-assistant]").evaluate_all(
        "nodes => nodes.map(n => n.dataset.testid)"
    )


def test_a_logged_out_browser_replays_a_shared_task_and_reaches_nothing_else(
    stack: Stack, page: Page, browser: Browser
) -> None:
    log_in(page, stack, "share-owner")
    owner = get_user_model().objects.get(username="share-owner")
    session, files = recorded_task(owner)
    page.goto(f"{stack.base_url}/chat/{session.id}")
    expect(page.get_by_test_id("message-assistant")).to_contain_text("06:12")

    # The owner keeps the diary private and makes a link.
    page.get_by_test_id("open-share").click()
    dialog = page.get_by_test_id("share-dialog")
    diary_row = dialog.get_by_test_id("share-files").locator("li", has_text="diary.txt")
    diary_row.get_by_test_id("share-file-private").check()
    expect(diary_row.get_by_test_id("share-file-private")).to_be_checked()
    dialog.get_by_test_id("share-expiry").select_option(label="1 day")
    dialog.get_by_test_id("share-create").click()
    url = dialog.get_by_test_id("share-url").input_value()
    assert url.startswith(f"{stack.base_url}/share/")
    expect(dialog.get_by_test_id("share-link")).to_have_count(1)
    shot(page, "share-dialog")
    dialog.get_by_role("button", name="Close").click()

    # A stranger: a fresh browser context, no cookie.
    stranger_context = browser.new_context(viewport={"width": 1280, "height": 800})
    stranger = stranger_context.new_page()
    api_calls: list[str] = []
    stranger.on("request", lambda r: api_calls.append(r.url) if "/api/" in r.url else None)
    stranger.goto(url)

    expect(stranger.get_by_test_id("chat-title")).to_have_text("High tide in Hamburg")
    expect(stranger.get_by_test_id("message-assistant")).to_contain_text("High tide is at 06:12.")
    expect(stranger.get_by_test_id("share-expires")).to_be_visible()
    user_message = stranger.get_by_test_id("message-user")
    expect(user_message.get_by_test_id("file-chip")).to_have_count(1)
    expect(user_message).to_contain_text("notes.txt")
    expect(user_message).not_to_contain_text("diary.txt")
    expect(stranger.get_by_test_id("delivered-files")).to_contain_text("report.md")
    for absent in ("composer-input", "sidebar", "take-over", "open-share"):
        expect(stranger.get_by_test_id(absent)).to_have_count(0)

    # Step through it from the start.
    stranger.get_by_test_id("replay-restart").click()
    assert shown_messages(stranger) == []
    stranger.get_by_test_id("replay-next").click()
    assert shown_messages(stranger) == ["message-user"]
    expect(stranger.get_by_test_id("step")).to_have_count(0)
    for _ in range(3):  # the title, the plan, the step
        stranger.get_by_test_id("replay-next").click()
    expect(stranger.get_by_test_id("step")).to_have_count(1)
    expect(stranger.get_by_test_id("tool-row")).to_have_count(0)
    stranger.get_by_test_id("replay-next").click()
    expect(stranger.get_by_test_id("tool-row")).to_have_count(1)
    stranger.get_by_test_id("replay-previous").click()
    expect(stranger.get_by_test_id("tool-row")).to_have_count(0)

    # Replay at the recorded pace (the events were written within a second or two), then look at
    # the browser call's screenshot, served through the link.
    stranger.get_by_test_id("replay-play").click()
    expect(stranger.get_by_test_id("replay-pause")).to_be_visible()
    expect(stranger.get_by_test_id("message-assistant")).to_contain_text("06:12", timeout=15_000)
    expect(stranger.get_by_test_id("replay-play")).to_contain_text("Replay")
    total = stranger.get_by_test_id("replay-position").inner_text().split("/")[1]
    expect(stranger.get_by_test_id("replay-position")).to_have_text(f"{total}/{total}")
    stranger.locator("[data-testid=tool-row]").nth(1).click()
    screenshot = stranger.get_by_test_id("browser-screenshot")
    expect(screenshot).to_be_visible()
    stranger.wait_for_function(
        "() => { const img = document.querySelector('[data-testid=browser-screenshot]');"
        " return img !== null && img.complete && img.naturalWidth === 64 }"
    )
    expect(stranger.locator(".vnc-screen")).to_have_count(0)
    shot(stranger, "share-replay")

    # Nothing else answers this browser.
    statuses = stranger.evaluate(
        """async ([sid, fileId]) => {
            const paths = ['/api/v1/sessions', `/api/v1/sessions/${sid}`, `/api/v1/sessions/${sid}/files`,
                           `/api/v1/files/${fileId}/download`, `/api/v1/sessions/${sid}/shares`]
            const out = {}
            for (const p of paths) out[p] = (await fetch(p)).status
            return out
        }""",
        [session.id, files["shot"].file_id],
    )
    assert statuses == {
        "/api/v1/sessions": 401,
        f"/api/v1/sessions/{session.id}": 401,
        f"/api/v1/sessions/{session.id}/files": 401,
        f"/api/v1/files/{files['shot'].file_id}/download": 401,
        f"/api/v1/sessions/{session.id}/shares": 401,
    }
    diary = stranger.evaluate(
        "async ([token, id]) => (await fetch(`/api/v1/shared/${token}/files/${id}`)).status",
        [url.rsplit("/", 1)[1], files["diary"].file_id],
    )
    assert diary == 404
    page_calls = [c for c in api_calls if "/api/v1/shared/" not in c]
    assert page_calls == [f"{stack.base_url}{p}" for p in statuses], page_calls  # only the probes above

    # The owner revokes the link: the stranger's next load says it does not work.
    page.get_by_test_id("open-share").click()
    page.get_by_test_id("share-dialog").get_by_test_id("share-revoke").click()
    expect(page.get_by_test_id("share-dialog").get_by_test_id("share-revoke")).to_have_count(0)
    stranger.reload()
    expect(stranger.get_by_test_id("share-not-found")).to_be_visible()
    stranger_context.close()
