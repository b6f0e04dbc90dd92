"""Schedules (crons): every read and write, the fire itself, its timer, and beat's tick.

Each schedule's next fire is a `jobs.schedule_due` task with a countdown, armed when the
schedule is created or changed and after each fire (JOB_TIMER_MAX_SECONDS ahead at most; beat's
slow tick arms farther ones when they come near and fires whatever a lost timer left due). A
pending `enqueue` run starts when the schedule's previous job ends.

A fire is claimed twice over, so two beats running by mistake never start the same fire
twice: first by compare-and-set on `Schedule.next_run_at` (only one tick moves it from the
fire instant to the next one), then by the unique (schedule, fire_at) `ScheduleRun` row.

Missed fires (beat or the workers were down): a fire found less than
SCHEDULE_MISFIRE_GRACE_SECONDS late starts at once; an older one is recorded as one
`missed` run (with how many fire times passed) and nothing starts for it — the schedule goes
on from its next fire time after now. Catching up a night of hourly reports is rarely what
anyone wants, and never all at once.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from anker_project.errors import ApplicationError, ConflictError, NotFoundError

from .cron import CronError, cron_next, cron_parse, timezone_get
from .models import ENDED_JOB_STATUSES, Job, JobApiKey, OverlapPolicy, Schedule, ScheduleRun, ScheduleRunOutcome
from .services import job_cancel, job_submit

logger = logging.getLogger(__name__)

MAX_MISSED_COUNTED = 10_000


class ScheduleInvalidError(ApplicationError):
    status = 422


# --- reads ------------------------------------------------------------------------------


def schedules_of(*, user_id: int, api_key_id: str | None) -> QuerySet[Schedule]:
    """The caller's schedules: an API key sees the ones made with it; a user sees all of theirs."""
    schedules = Schedule.objects.filter(owner_id=user_id)
    return schedules.filter(api_key_id=api_key_id) if api_key_id is not None else schedules


def schedule_get(*, user_id: int, api_key_id: str | None, schedule_id: str) -> Schedule:
    try:
        schedule = schedules_of(user_id=user_id, api_key_id=api_key_id).filter(pk=schedule_id).first()
    except (ValueError, TypeError, DjangoValidationError):
        schedule = None
    if schedule is None:
        raise NotFoundError("Schedule not found")
    return schedule


def schedule_runs(*, schedule_id: str) -> QuerySet[ScheduleRun]:
    return ScheduleRun.objects.filter(schedule_id=schedule_id).select_related("job").order_by("-fire_at", "-created_at")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def schedule_view(schedule: Schedule) -> dict[str, Any]:
    return {
        "schedule_id": str(schedule.id),
        "name": schedule.name,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "start_at": _iso(schedule.start_at),
        "end_at": _iso(schedule.end_at),
        "enabled": schedule.enabled,
        "overlap_policy": schedule.overlap_policy,
        "job": schedule.job,
        "next_run_at": _iso(schedule.next_run_at),
        "last_run_at": _iso(schedule.last_run_at),
        "created_at": _iso(schedule.created_at),
        "updated_at": _iso(schedule.updated_at),
    }


def schedule_run_view(run: ScheduleRun) -> dict[str, Any]:
    return {
        "run_id": str(run.id),
        "fire_at": _iso(run.fire_at),
        "manual": run.manual,
        "outcome": run.outcome,
        "missed_count": run.missed_count,
        "error": run.error or None,
        "job_id": str(run.job_id) if run.job_id else None,
        "job_status": run.job.status if run.job is not None else None,
        "session_id": run.job.session_id if run.job is not None else None,
        "created_at": _iso(run.created_at),
    }


# --- writes -----------------------------------------------------------------------------


def _next_fire(
    *, cron: str, tz: str, start_at: datetime | None, end_at: datetime | None, after: datetime
) -> datetime | None:
    """The first fire strictly after `after` inside [start_at, end_at]; None when none is left."""
    if start_at is not None and start_at > after:
        try:
            after = start_at - timedelta(microseconds=1)
        except OverflowError:
            return None
    moment = cron_next(cron_parse(cron), timezone_get(tz), after)
    if moment is None or (end_at is not None and moment > end_at):
        return None
    return moment


def _validated(fields: dict[str, Any]) -> None:
    try:
        cron_parse(fields["cron"])
    except CronError as exc:
        raise ScheduleInvalidError(f"cron: {exc}", extra={"field": "cron"}) from exc
    try:
        timezone_get(fields["timezone"])
    except CronError as exc:
        raise ScheduleInvalidError(f"timezone: {exc}", extra={"field": "timezone"}) from exc
    start_at, end_at = fields.get("start_at"), fields.get("end_at")
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise ScheduleInvalidError("end_at: must be after start_at", extra={"field": "end_at"})
    if fields.get("overlap_policy", OverlapPolicy.SKIP) not in OverlapPolicy.values:
        raise ScheduleInvalidError(
            f"overlap_policy: must be one of {', '.join(OverlapPolicy.values)}", extra={"field": "overlap_policy"}
        )


def _plan(schedule: Schedule, *, now: datetime) -> datetime | None:
    if not schedule.enabled:
        return None
    return _next_fire(
        cron=schedule.cron, tz=schedule.timezone, start_at=schedule.start_at, end_at=schedule.end_at, after=now
    )


def schedule_arm(*, schedule_id: str, fire_at: datetime | None, within: float | None = None) -> bool:
    """Send `jobs.schedule_due` for the fire at `fire_at`, once the current transaction
    commits; False (nothing sent) when there is none or it is more than `within` seconds off."""
    from .tasks import schedule_due_task

    if fire_at is None:
        return False
    delay = max(0.0, (fire_at - timezone.now()).total_seconds())
    if delay > (settings.JOB_TIMER_MAX_SECONDS if within is None else within):
        return False
    kwargs = {"schedule_id": schedule_id, "fire_at": fire_at.isoformat()}
    transaction.on_commit(lambda: schedule_due_task.apply_async(kwargs=kwargs, countdown=delay, queue="default"))
    return True


def schedule_create(*, owner_id: int, api_key_id: str | None, fields: dict[str, Any]) -> Schedule:
    """Make a schedule; `fields` are the API's validated input (job body already checked)."""
    _validated(fields)
    if Schedule.objects.filter(owner_id=owner_id).count() >= settings.SCHEDULES_MAX_PER_OWNER:
        raise ConflictError(f"You have {settings.SCHEDULES_MAX_PER_OWNER} schedules, the most allowed")
    schedule = Schedule(owner_id=owner_id, api_key_id=api_key_id, **fields)
    schedule.next_run_at = _plan(schedule, now=timezone.now())
    schedule.save()
    schedule_arm(schedule_id=str(schedule.pk), fire_at=schedule.next_run_at)
    return schedule


SCHEDULE_EDITABLE = ("name", "cron", "timezone", "start_at", "end_at", "enabled", "job", "overlap_policy")


def schedule_update(*, schedule_id: str, changes: dict[str, Any]) -> Schedule:
    """Change a schedule; its next fire is planned again from now."""
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule_id)
        merged = {name: getattr(schedule, name) for name in SCHEDULE_EDITABLE}
        merged.update({k: v for k, v in changes.items() if k in SCHEDULE_EDITABLE})
        _validated(merged)
        for name, value in merged.items():
            setattr(schedule, name, value)
        schedule.next_run_at = _plan(schedule, now=timezone.now())
        schedule.save()
        schedule_arm(schedule_id=str(schedule.pk), fire_at=schedule.next_run_at)
    return schedule


def schedule_delete(*, schedule_id: str) -> None:
    """Delete a schedule and its run history; the jobs it started stay."""
    Schedule.objects.filter(pk=schedule_id).delete()


def _previous_unended(schedule: Schedule) -> Job | None:
    job_ids = schedule.runs.filter(job__isnull=False).values_list("job_id", flat=True)
    return (
        Job.objects.filter(pk__in=job_ids)
        .exclude(status__in=ENDED_JOB_STATUSES)
        .select_related("session")
        .order_by("-created_at")
        .first()
    )


def _submit(schedule: Schedule, run: ScheduleRun) -> ScheduleRun:
    """Submit the schedule's job for `run` and record what happened on the run."""
    body = dict(schedule.job)
    api_key = JobApiKey.objects.filter(pk=schedule.api_key_id).first() if schedule.api_key_id else None
    try:
        job, _ = job_submit(
            api_key=api_key,
            owner_id=schedule.owner_id,
            prompt=body.get("prompt", ""),
            mode=body.get("mode", "agent"),
            attachments=body.get("attachments", []),
            webhook_url=body.get("webhook_url", ""),
            metadata={**body.get("metadata", {}), "schedule_id": str(schedule.id)},
            priority=body.get("priority", 0),
            timeout_s=body.get("timeout_s"),
        )
    except ApplicationError as exc:
        ScheduleRun.objects.filter(pk=run.pk).update(outcome=ScheduleRunOutcome.FAILED, error=exc.message)
        run.outcome, run.error = ScheduleRunOutcome.FAILED, exc.message
        return run
    ScheduleRun.objects.filter(pk=run.pk).update(outcome=ScheduleRunOutcome.STARTED, job=job)
    run.outcome, run.job = ScheduleRunOutcome.STARTED, job
    return run


def schedule_fire(*, schedule_id: str, fire_at: datetime, manual: bool = False) -> ScheduleRun | None:
    """Fire a schedule once for `fire_at`, by its overlap policy. None if this fire was
    already recorded (another beat got there first)."""
    schedule = Schedule.objects.get(pk=schedule_id)
    previous = _previous_unended(schedule)
    pending_ahead = schedule.runs.filter(outcome=ScheduleRunOutcome.PENDING).exists()
    outcome = ScheduleRunOutcome.STARTED
    if previous is not None or pending_ahead:
        if schedule.overlap_policy == OverlapPolicy.SKIP:
            outcome = ScheduleRunOutcome.SKIPPED
        elif schedule.overlap_policy == OverlapPolicy.ENQUEUE:
            outcome = ScheduleRunOutcome.PENDING
        elif previous is not None:
            with contextlib.suppress(ConflictError):  # it may have ended meanwhile
                job_cancel(job_id=str(previous.pk))
    try:
        with transaction.atomic():
            run = ScheduleRun.objects.create(schedule=schedule, fire_at=fire_at, manual=manual, outcome=outcome)
    except IntegrityError:
        return None
    Schedule.objects.filter(pk=schedule.pk).update(last_run_at=fire_at)
    if outcome == ScheduleRunOutcome.STARTED:
        return _submit(schedule, run)
    return run


def _start_pending(schedule: Schedule) -> bool:
    """Enqueue policy: start the oldest pending run once the schedule's previous job ended."""
    run = schedule.runs.filter(outcome=ScheduleRunOutcome.PENDING).order_by("fire_at", "created_at").first()
    if run is None or _previous_unended(schedule) is not None:
        return False
    # Claim it: only one tick turns this pending run into a submission.
    if not ScheduleRun.objects.filter(pk=run.pk, outcome=ScheduleRunOutcome.PENDING).update(
        outcome=ScheduleRunOutcome.STARTED
    ):
        return False
    _submit(schedule, run)
    return True


def _count_missed(schedule: Schedule, first: datetime, now: datetime) -> int:
    cron, zone = cron_parse(schedule.cron), timezone_get(schedule.timezone)
    count, moment = 1, first
    while count < MAX_MISSED_COUNTED:
        nxt = cron_next(cron, zone, moment)
        if nxt is None or nxt > now:
            break
        count, moment = count + 1, nxt
    return count


def _fire_due(schedule: Schedule, *, now: datetime) -> str:
    """Fire the schedule's due `next_run_at` (or record it missed) and arm the next fire.
    Returns fired, missed or "" (another tick or timer claimed it, or the cron is invalid)."""
    fire_at = schedule.next_run_at
    assert fire_at is not None
    try:
        following = _plan(schedule, now=now)
    except CronError:
        logger.exception("schedule %s has an invalid cron; disabling it", schedule.pk)
        Schedule.objects.filter(pk=schedule.pk).update(enabled=False, next_run_at=None)
        return ""
    # Claim the fire: only the tick or timer that moves next_run_at from it may fire it.
    if not Schedule.objects.filter(pk=schedule.pk, next_run_at=fire_at).update(next_run_at=following):
        return ""
    schedule_arm(schedule_id=str(schedule.pk), fire_at=following)
    late = (now - fire_at).total_seconds()
    if late > settings.SCHEDULE_MISFIRE_GRACE_SECONDS:
        try:
            with transaction.atomic():
                ScheduleRun.objects.create(
                    schedule=schedule,
                    fire_at=fire_at,
                    outcome=ScheduleRunOutcome.MISSED,
                    missed_count=_count_missed(schedule, fire_at, now),
                    error=f"Anker was not running at the fire time ({int(late)} s late); skipped.",
                )
        except IntegrityError:
            return ""
        return "missed"
    return "fired" if schedule_fire(schedule_id=str(schedule.pk), fire_at=fire_at) is not None else ""


def schedule_due(*, schedule_id: str, fire_at: str) -> str:
    """`jobs.schedule_due`: the timer of one fire. Fires it if it is still the schedule's next
    fire and its time has come (an edited schedule armed its own timer); an early timer is
    armed again. Returns fired, missed, early or stale."""
    schedule = Schedule.objects.filter(pk=schedule_id, enabled=True).first()
    when = datetime.fromisoformat(fire_at)
    if schedule is None or schedule.next_run_at != when:
        return "stale"
    now = timezone.now()
    if when > now:
        schedule_arm(schedule_id=schedule_id, fire_at=when)
        return "early"
    return _fire_due(schedule, now=now) or "stale"


def schedule_job_ended(*, schedule_id: str) -> bool:
    """A job a schedule started ended: start the schedule's oldest pending `enqueue` run."""
    schedule = Schedule.objects.filter(pk=schedule_id).first()
    return schedule is not None and _start_pending(schedule)


def schedules_tick() -> dict[str, int]:
    """Beat's safety net, every SCHEDULE_TICK_SECONDS: fire every due schedule a lost timer
    left behind, record missed fires, start pending enqueued runs, and arm the timers of fires
    that come before the next ticks."""
    now = timezone.now()
    counts = {"fired": 0, "missed": 0, "pending_started": 0, "armed": 0}
    due = Schedule.objects.filter(enabled=True, next_run_at__lte=now).order_by("next_run_at")
    for schedule in due[:1000]:
        outcome = _fire_due(schedule, now=now)
        if outcome:
            counts[outcome] += 1
    pending = Schedule.objects.filter(runs__outcome=ScheduleRunOutcome.PENDING).distinct()
    for schedule in pending[:1000]:
        counts["pending_started"] += _start_pending(schedule)
    window = settings.SCHEDULE_TICK_SECONDS * 2
    near = Schedule.objects.filter(
        enabled=True, next_run_at__gt=now, next_run_at__lte=now + timedelta(seconds=window)
    ).values_list("pk", "next_run_at")
    for schedule_id, fire_at in near[:1000]:
        counts["armed"] += schedule_arm(schedule_id=str(schedule_id), fire_at=fire_at, within=window + 1)
    return counts
