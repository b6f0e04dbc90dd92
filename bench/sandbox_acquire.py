"""Sandbox acquire: cold create -> ready, and warm-pool acquire, p50/p95 per backend; idle memory.

Backends: local without and with the desktop (Xvfb, Chromium, VNC in the jail; skipped with a
note when the host lacks its programs), and Docker.

Cold: `sandbox_acquire` for a new session with an empty pool (the backend starts a sandbox
and waits for its tool API). Warm: the pool holds ready sandboxes; `sandbox_acquire` claims
one (a CAS on the row plus a liveness check). Docker is skipped with a note when no engine
answers. Runs with private Redis/Mongo/SQLite (BenchStack) and a private name prefix.
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

RUNS = 20


def body(stack: BenchStack) -> bool:
    from django.conf import settings

    from bench._memory import sandbox_memory_bytes
    from sandboxes.backends import get_backend
    from sandboxes.models import Sandbox
    from sandboxes.services import sandbox_acquire, sandbox_destroy, sandbox_pool_refill
    from sessions.models import Session

    owner = sandbox_bench_setup()
    leftovers = 0
    for label, name in sandbox_backends():
        settings.SANDBOX_POOL_SIZE = 0
        cold: list[float] = []
        for _ in range(RUNS):
            session = Session.objects.create(owner=owner)
            started = time.perf_counter()
            handle = sandbox_acquire(session_id=session.id)
            cold.append(time.perf_counter() - started)
            if not cold[1:]:  # measure one idle sandbox, after it settled
                time.sleep(3)
                memory = sandbox_memory_bytes(get_backend(name), handle.sandbox_id)
            sandbox_destroy(sandbox_id=handle.sandbox_id)
        warm: list[float] = []
        settings.SANDBOX_POOL_SIZE = 5
        while len(warm) < RUNS:
            sandbox_pool_refill()
            for _ in range(min(5, RUNS - len(warm))):
                session = Session.objects.create(owner=owner)
                started = time.perf_counter()
                handle = sandbox_acquire(session_id=session.id)
                warm.append(time.perf_counter() - started)
            for pk in Sandbox.objects.filter(status__in=["ready", "in_use"]).values_list("pk", flat=True):
                sandbox_destroy(sandbox_id=str(pk))
        print(
            f"{label}: cold create->ready p50 {percentile(cold, 50) * 1000:.0f} ms, "
            f"p95 {percentile(cold, 95) * 1000:.0f} ms; "
            f"warm-pool acquire p50 {percentile(warm, 50) * 1000:.1f} ms, "
            f"p95 {percentile(warm, 95) * 1000:.1f} ms ({RUNS} runs each); "
            f"idle memory of one sandbox {(memory or 0) / 2**20:.0f} MiB"
        )
        leftovers += sandbox_leftovers_removed(name)
    return leftovers == 0


if __name__ == "__main__":
    sys.exit(run_bench(body))
