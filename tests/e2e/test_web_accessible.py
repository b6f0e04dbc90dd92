"""The web app is accessible: axe-core's WCAG 2 A and AA rules find nothing on the login page, the
home page and a chat with a finished agent task, in the light and the dark theme; and the keyboard
reaches every action with a visible focus. Real Chromium, the real stack, the scripted model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.bootstrap import ROOT
from tests.e2e.conftest import Stack
from tests.e2e.test_web_agent import call, plan, start_agent_task
from tests.e2e.web import log_in, require, shot
from tests.support.llm_server import ScriptedLLM

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
THEMES = ("light", "dark")

RUN_AXE = """async () => {
  const result = await axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] },
    resultTypes: ['violations'],
  })
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
  }))
}"""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    # axe is injected as a script; the app's Content-Security-Policy would (rightly) refuse it.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


def use_theme(page: Page, theme: str) -> None:
    page.evaluate("(theme) => localStorage.setItem('anker.theme', theme)", theme)
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", theme)


def violations(page: Page) -> list[dict[str, Any]]:
    require(AXE.exists(), "axe-core is not installed (npm ci in frontend/)")
    # Animations settle first, so colours are read as the user ends up seeing them.
    page.wait_for_timeout(400)
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return result


def readable(found: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for where, items in found.items():
        for v in items:
            lines.append(f"{where}: {v['id']} ({v['impact']}): {v['help']}")
            lines.extend(f"    {n['target']}\n      {n['summary'].replace(chr(10), ' ')}" for n in v["nodes"][:8])
    return "\n".join(lines)


def check_both_themes(page: Page, name: str, ready: str, found: dict[str, list[dict[str, Any]]]) -> None:
    for theme in THEMES:
        use_theme(page, theme)
        expect(page.get_by_test_id(ready).first).to_be_visible(timeout=20_000)
        shot(page, f"a11y-{name}-{theme}")
        found[f"{name} ({theme})"] = violations(page)


def finished_agent_task(page: Page, llm: ScriptedLLM) -> None:
    llm.push(
        plan("Count the anchors"),
        call("shell_exec", {"id": "main", "exec_dir": "/tmp", "command": "echo anchors-$((40+2))"}, "c_sh"),
        call("complete_step", {"success": True, "result": "42 anchors"}, "c_done"),
        call("deliver_result", {"message": "There are **42** anchors.", "attachments": []}, "c_result"),
    )
    start_agent_task(page, "Count the anchors")
    expect(page.get_by_test_id("task-completed")).to_be_visible(timeout=90_000)


def test_axe_finds_no_wcag_a_or_aa_violation_on_the_main_pages_in_both_themes(
    stack: Stack, llm: ScriptedLLM, page: Page
) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    page.goto(f"{stack.base_url}/")
    check_both_themes(page, "login", "login-form", found)

    use_theme(page, "light")
    log_in(page, stack, "a11y-user")
    check_both_themes(page, "home", "composer-input", found)

    finished_agent_task(page, llm)
    expect(page.get_by_test_id("tool-row").first).to_be_visible()
    check_both_themes(page, "finished task", "task-completed", found)

    assert {where: [v["id"] for v in items] for where, items in found.items()} == {where: [] for where in found}, (
        "axe found violations:\n" + readable(found)
    )


# How the focused element and its nearest ancestors look (a composer shows focus on its box),
# compared with how they look once focus leaves: a focus that changes nothing is invisible.
FOCUS_STATE = """() => {
  const el = document.activeElement
  if (!el || el === document.body) return null
  const chain = []
  for (let node = el, i = 0; node && i < 4; node = node.parentElement, i++) chain.push(node)
  const look = () =>
    chain
      .map((node) => {
        const s = getComputedStyle(node)
        const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0 ? s.outlineColor : 'none'
        return [outline, s.boxShadow, s.borderColor].join('|')
      })
      .join(';')
  const focused = look()
  el.blur()
  const blurred = look()
  el.focus({ preventScroll: true })
  return { testid: el.getAttribute('data-testid'), tag: el.tagName, label: el.getAttribute('aria-label'),
           visible: focused !== blurred }
}"""
NO_MOTION = "*, *::before, *::after { transition: none !important; animation: none !important; }"


def tab_through(page: Page, presses: int) -> list[dict[str, Any]]:
    """Presses Tab and records each element that receives focus, with whether its focus shows."""
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_STATE)
        if state:
            seen.append(state)
    return seen


def test_the_keyboard_reaches_every_action_with_a_visible_focus(stack: Stack, llm: ScriptedLLM, page: Page) -> None:
    log_in(page, stack, "a11y-keys")
    finished_agent_task(page, llm)
    page.get_by_test_id("composer-input").fill("Thanks")  # Send is enabled once there is text
    page.add_style_tag(content=NO_MOTION)  # styles are compared at once, not mid-transition
    page.evaluate("document.activeElement && document.activeElement.blur()")

    seen = tab_through(page, 60)

    reached = {state["testid"] for state in seen}
    for action in (
        "new-task",
        "session-link",
        "session-rename",
        "session-delete",
        "theme-toggle",
        "logout",
        "composer-input",
        "send",
    ):
        assert action in reached, f"Tab never reached {action}; reached {sorted(filter(None, reached))}"
    hidden = [state for state in seen if not state["visible"]]
    assert hidden == [], f"focus is not visible on {hidden}"

    # The composer's own actions: Enter sends from the keyboard alone.
    page.get_by_test_id("composer-input").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("message-user")).to_have_count(2)
