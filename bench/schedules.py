"""Schedules under load: N schedules (default 1,000) firing at the same minute on one beat and
one worker, next to a baseline of a few schedules firing alone a minute earlier, in one run.

Fire delay = when the fire was recorded (its `ScheduleRun` row) minus its fire time, and when
its job existed (`Job.created_at`) minus its fire time. The fires are timers (`jobs.schedule_due`
countdown tasks on the `default` queue; beat runs its safety-net tick). No worker serves the
`jobs` queue: the jobs are created and dispatched but their turns do not run, so the numbers are
the fire path's alone, not the agent's. Both groups are `* * * * *` crons; the load group starts
at its minute (`start_at`) and the baseline ends after its own, so each fires exactly once here.

    .venv/bin/python bench/schedules.py [N] [BASELINE]     # default 1000 and 10

The wall time is set by the two minute boundaries plus at most FIRE_WINDOW (90 s): about 3
minutes. A smaller N (e.g. `bench/schedules.py 200`) shortens the setup on a busy machine; a
fire not done within the window is counted as later than it (p99 "> 90 s"), never as missing.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._stack import BIN, BenchStack, percentile, run_bench  # noqa: E402

WORKER_THREADS = 8
# Seconds the baseline's minute is at least ahead of the start: time to create both groups
# (arming a timer is a broker round trip each; on a loaded 2-core machine ~30 ms).
SETUP_MARGIN = 15
SETUP_PER_SCHEDULE = 0.04
# How long after their minute the fires are waited for; one still missing then counts as later.
FIRE_WINDOW = 90.0


def minute_after(moment: datetime) -> datetime:
    return (moment + timedelta(minutes=1)).replace(second=0, microsecond=0)


def delays(fire_at: datetime) -> dict[str, list[float]]:
    from jobs.models import ScheduleRun

    runs = ScheduleRun.objects.filter(fire_at=fire_at).select_related("job")
    out: dict[str, list[float]] = {"recorded": [], "job": [], "runs": [], "outcomes": []}
    for run in runs:
        out["recorded"].append((run.created_at - fire_at).total_seconds() * 1000)
        if run.job is not None:
            out["job"].append((run.job.created_at - fire_at).total_seconds() * 1000)
        out["outcomes"].append(run.outcome)  # type: ignore[arg-type]
    return out


def wait_for_runs(fire_at: datetime, expected: int, timeout: float) -> int:
    from jobs.models import ScheduleRun

    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = ScheduleRun.objects.filter(fire_at=fire_at, job__isnull=False).count()
        if count >= expected:
            return count
        time.sleep(0.5)
    return count


def report(label: str, fire_at: datetime, n: int) -> bool:
    d = delays(fire_at)
    runs, jobs = len(d["recorded"]), len(d["job"])
    outcomes = {o: d["outcomes"].count(o) for o in set(d["outcomes"])}
    print(f"{label:>9} ({n} schedules at {fire_at:%H:%M}): {runs} fires recorded, {jobs} jobs, outcomes {outcomes}")
    for name, values in (("recorded", d["recorded"]), ("job", d["job"])):
        # A fire not done within FIRE_WINDOW counts as later than that (never as missing).
        values = values + [float("inf")] * (n - len(values))
        cells = [f"{v:8.0f} ms" if v != float("inf") else f"> {FIRE_WINDOW:.0f} s" for v in (
            percentile(values, 50), percentile(values, 99))]  # fmt: skip
        print(f"           fire -> {name:<8} p50 {cells[0]}  p99 {cells[1]}")
    return runs == n and jobs == n


def body(stack: BenchStack, n: int, baseline_n: int) -> bool:
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from jobs.models import Schedule
    from jobs.schedules import _plan, schedule_arm

    user = get_user_model().objects.create_user(username="bench", password="bench-pass-123")
    stack.start_worker("bench-sched", "default", WORKER_THREADS)
    stack._start(
        "beat",
        [
            str(BIN / "python"),
            "-m",
            "celery",
            "-A",
            "anker_project",
            "beat",
            "-l",
            "WARNING",
            "-s",
            str(stack.tmp / "beat-schedule"),
        ],
        port=stack.redis_port,
    )
    margin = SETUP_MARGIN + SETUP_PER_SCHEDULE * (n + baseline_n)
    base_at = minute_after(datetime.now(UTC) + timedelta(seconds=margin))
    load_at = base_at + timedelta(minutes=1)
    job = {"prompt": "Nightly check", "mode": "lite"}

    def create(count: int, **window: datetime) -> None:
        """In bulk, then each one's timer armed as `schedule_create` arms it: the creation path is
        not what is measured, and one by one it would not fit before the minute on a busy machine."""
        now = timezone.now()
        fields = {"cron": "* * * * *", "timezone": "UTC", "job": job, **window}
        made = [Schedule(owner_id=user.pk, name=f"s{i}", **fields) for i in range(count)]
        first = _plan(made[0], now=now)  # one cron and window: the same next fire for all
        for schedule in made:
            schedule.next_run_at = first
        with transaction.atomic():
            Schedule.objects.bulk_create(made)
            for schedule in made:
                schedule_arm(schedule_id=str(schedule.pk), fire_at=schedule.next_run_at)

    t0 = time.monotonic()
    create(baseline_n, start_at=base_at, end_at=base_at + timedelta(seconds=30))
    create(n, start_at=load_at)
    print(f"created {baseline_n} + {n} schedules in {time.monotonic() - t0:.1f} s", flush=True)
    if datetime.now(UTC) > base_at - timedelta(seconds=2):
        print("FAIL: creating the schedules took past the baseline's minute; run with a smaller N")
        return False
    print(f"baseline fires at {base_at:%H:%M:%S}, load at {load_at:%H:%M:%S} ...", flush=True)
    wait_for_runs(base_at, baseline_n, timeout=(base_at - datetime.now(UTC)).total_seconds() + 50)
    wait_for_runs(load_at, n, timeout=(load_at - datetime.now(UTC)).total_seconds() + FIRE_WINDOW)
    ok_base = report("baseline", base_at, baseline_n)
    ok_load = report("load", load_at, n)
    if not (ok_base and ok_load):
        print("FAIL: not every schedule fired exactly once with a job")
    return ok_base and ok_load


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    baseline_n = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    env = {
        "LLM_PROVIDER": "compatible",
        "API_BASE": "http://127.0.0.1:9/v1",  # never called: no worker takes the jobs' turns
        "API_KEY": "unused",
        "MODEL_NAME": "scripted-model",
        "SCHEDULES_MAX_PER_OWNER": str(n + baseline_n + 10),
    }
    sys.exit(run_bench(lambda stack: body(stack, n, baseline_n), env=env))
