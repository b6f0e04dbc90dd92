"""The schedules page in real Chromium (Playwright) against the real stack and the scripted model."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from jobs.models import Job, Schedule, ScheduleRun
from tests.e2e.conftest import Stack
from tests.e2e.web import log_in, shot
from tests.support.llm_server import ScriptedLLM, text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_user_creates_a_schedule_runs_it_now_and_opens_the_run_s_session(
    stack: Stack, llm: ScriptedLLM, page: Page
) -> None:
    llm.push(text("All five tickets are closed."))
    log_in(page, stack, "web-sched")

    page.get_by_test_id("nav-schedules").click()
    expect(page).to_have_url(re.compile(r"/schedules$"))
    expect(page.get_by_test_id("schedules-empty")).to_have_text("No schedules yet.")

    page.get_by_test_id("schedule-new").click()
    page.get_by_test_id("schedule-name").fill("Ticket digest")
    page.get_by_test_id("schedule-cron").fill("0 7 * * MON-FRI")
    page.get_by_test_id("schedule-timezone").fill("Europe/Berlin")
    page.get_by_test_id("schedule-prompt").fill("Summarise the open tickets")
    page.get_by_test_id("schedule-mode").select_option("lite")
    page.get_by_test_id("schedule-overlap").select_option("enqueue")
    page.get_by_test_id("schedule-save").click()

    item = page.get_by_test_id("schedule-item")
    expect(item).to_have_count(1)
    expect(item.get_by_test_id("schedule-item-name")).to_have_text("Ticket digest")
    expect(item.get_by_test_id("schedule-next-run")).to_have_text(re.compile(r"^Next run: .*\d"))
    schedule = Schedule.objects.get()
    assert (schedule.cron, schedule.timezone, schedule.overlap_policy) == (
        "0 7 * * MON-FRI",
        "Europe/Berlin",
        "enqueue",
    )
    assert schedule.job["prompt"] == "Summarise the open tickets" and schedule.job["mode"] == "lite"
    assert schedule.api_key_id is None and schedule.next_run_at is not None

    item.get_by_test_id("schedule-run-now").click()
    run_row = page.get_by_test_id("schedule-run")
    expect(run_row).to_have_count(1)
    expect(run_row.get_by_test_id("schedule-run-outcome")).to_have_text("Started")
    run = ScheduleRun.objects.get()
    assert run.manual and run.job is not None
    job = Job.objects.get(pk=run.job_id)
    assert job.session_id is not None
    shot(page, "schedules")

    run_row.get_by_test_id("schedule-run-session").click()
    expect(page).to_have_url(re.compile(rf"/chat/{job.session_id}$"))
    expect(page.get_by_test_id("message-user")).to_contain_text("Summarise the open tickets")
    expect(page.get_by_test_id("message-assistant")).to_contain_text("All five tickets are closed.", timeout=30_000)

    # Pausing from the list clears the next run; the server agrees.
    page.get_by_test_id("nav-schedules").click()
    page.get_by_test_id("schedule-toggle").click()
    expect(page.get_by_test_id("schedule-next-run")).to_have_text("Next run: paused")
    schedule.refresh_from_db()
    assert schedule.enabled is False
