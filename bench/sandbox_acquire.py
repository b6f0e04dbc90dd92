"""Sandbox acquire: cold create -> ready, and warm-pool acquire, p50/p95 per backend; idle memory.

Backends: local without and with the desktop (Xvfb, Chromium, VNC in the jail; skipped with a
note when the host lacks its programs), and Docker.

Cold: `sandbox_acquire` for a new session with an empty pool (the backend starts a sandbox
and waits for its tool API). Warm: the pool holds ready sandboxes; `sandbox_acquire` claims
one (a CAS on the row plus a liveness check). Docker is skipped with a note when no engine
answers. Runs with private Redis/Mongo/SQLite (BenchStack) and a private name prefix.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import BenchStack, percentile

RUNS = 20


def main() -> int:
    stack = BenchStack()
    failed = False
    try:
        stack.django_setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model

        from bench._memory import sandbox_memory_bytes
        from sandboxes.backends import get_backend
        from sandboxes.backends.docker import engine_available
        from sandboxes.backends.local import desktop_programs
        from sandboxes.models import Sandbox
        from sandboxes.services import sandbox_acquire, sandbox_destroy, sandbox_pool_refill
        from sessions.models import Session

        settings.SANDBOX_NAME_PREFIX = f"anker-bench-{secrets.token_hex(3)}"
        settings.SANDBOX_LOCAL_DIR = tempfile.mkdtemp(prefix="anker-bench-sbx-")
        owner = get_user_model().objects.create_user("bench")
        for label, name, desktop in (
            ("local", "local", "off"),
            ("local+desktop", "local", "on"),
            ("docker", "docker", "off"),
        ):
            if name == "docker" and not engine_available():
                print("docker: skipped, no Docker engine answers (set DOCKER_HOST)")
                continue
            missing = desktop_programs(settings.SANDBOX_LOCAL_PYTHON)[1] if desktop == "on" else []
            if missing:
                print(f"{label}: skipped, missing {', '.join(missing)}")
                continue
            settings.SANDBOX_BACKEND = name
            settings.SANDBOX_LOCAL_DESKTOP = desktop
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
                f"idle memory of one sandbox {memory / 2**20:.0f} MiB"
            )
            leftovers = get_backend(name).list()
            for sandbox_id in leftovers:
                get_backend(name).destroy(sandbox_id)
            if leftovers:
                print(f"{name}: {len(leftovers)} sandbox(es) were left over and removed")
                failed = True
    except Exception:
        failed = True
        raise
    finally:
        stack.close(failed=failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
