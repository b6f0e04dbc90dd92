"""Waking a hibernated sandbox vs a cold create, per backend (goal: wake < 1 s for a shell task).

For each backend (local without the desktop, local with the desktop available — it starts on
demand, so a shell task never starts it — and Docker): `sandbox_acquire` for a new session with
an empty pool (cold: the baseline), then the sandbox's files are written, it hibernates
(`sandbox_hibernate`: processes stopped, workspace kept), and `sandbox_acquire` wakes it; the
first shell command after the wake (it reads the kept file) is timed with it. Docker is skipped
with a note when no engine answers. Private Redis/Mongo/SQLite (BenchStack), name prefix, dir.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import (
    BenchStack,
    percentile,
    run_bench,
    sandbox_backends,
    sandbox_bench_setup,
    sandbox_leftovers_removed,
)

RUNS = 5
GOAL_SECONDS = 1.0


def body(stack: BenchStack) -> bool:
    from sandboxes.hibernation import sandbox_hibernate
    from sandboxes.services import sandbox_acquire, sandbox_destroy
    from sessions.models import Session

    owner = sandbox_bench_setup()
    leftovers = 0
    for label, name in sandbox_backends():
        cold: list[float] = []
        wake: list[float] = []
        wake_and_shell: list[float] = []
        stop: list[float] = []
        for run in range(RUNS):
            session = Session.objects.create(owner=owner)
            started = time.perf_counter()
            handle = sandbox_acquire(session_id=session.id)
            cold.append(time.perf_counter() - started)
            marker = f"kept-{run}"
            handle.tool_api.shell_exec(id="w", exec_dir=handle.home, command=f"echo {marker} > kept.txt")
            handle.tool_api.close()
            started = time.perf_counter()
            if not sandbox_hibernate(sandbox_id=handle.sandbox_id):
                raise RuntimeError("the sandbox did not hibernate")
            stop.append(time.perf_counter() - started)
            started = time.perf_counter()
            woken = sandbox_acquire(session_id=session.id)
            wake.append(time.perf_counter() - started)
            out = woken.tool_api.shell_exec(id="w", exec_dir=woken.home, command="cat kept.txt")["output"]
            wake_and_shell.append(time.perf_counter() - started)
            if marker not in str(out) or woken.sandbox_id != handle.sandbox_id:
                raise RuntimeError(f"the woken sandbox lost its files: {out!r}")
            woken.tool_api.close()
            sandbox_destroy(sandbox_id=handle.sandbox_id)
        p50 = percentile(wake_and_shell, 50)
        print(
            f"{label}: cold create->ready p50 {percentile(cold, 50) * 1000:.0f} ms (baseline); "
            f"hibernate p50 {percentile(stop, 50) * 1000:.0f} ms; "
            f"wake p50 {percentile(wake, 50) * 1000:.0f} ms, max {max(wake) * 1000:.0f} ms; "
            f"wake + first shell command p50 {p50 * 1000:.0f} ms, max {max(wake_and_shell) * 1000:.0f} ms "
            f"({RUNS} runs; goal < {GOAL_SECONDS * 1000:.0f} ms: {'met' if p50 < GOAL_SECONDS else 'NOT met'})"
        )
        leftovers += sandbox_leftovers_removed(name)
    return leftovers == 0


if __name__ == "__main__":
    sys.exit(run_bench(body))
