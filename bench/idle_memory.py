"""Memory of five finished agent tasks' sandboxes, a minute after they end (goal: <= 1 GiB in all).

Each "task" is what a finished agent task leaves behind: a leased sandbox (local backend, the
desktop available) in which one shell command ran. A minute after the last one ends, the sum of
their processes' memory (PSS: shared pages counted once) is printed for

- before: the desktop started with the sandbox (Xvfb, Chromium, x11vnc; reproduced by opening
  the live view right after the sandbox starts, which is exactly what ran before), no hibernation;
- desktop on demand, no hibernation: shell-only tasks (the desktop never starts);
- after: desktop on demand and hibernation at its defaults (SANDBOX_IDLE_STOP_MINUTES): each
  task's end arms its sandbox's idle timer (`sandbox_mark_idle`, as a turn's heartbeat does),
  and the timer's function runs when it is due, as a worker would run the task — for tasks
  that used the browser (their desktop was started), the worst case.

All three groups sit side by side through the same minute; beat's safety-net sweep runs for all
of them at the end, and the first two keep their sandboxes awake the way an operator would,
with the admin's extended lease (an extended lease is not idle). Runs with private Redis/Mongo/SQLite (BenchStack) and a
private directory and name prefix. Skipped with a note when the host lacks bubblewrap or the
desktop's programs.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import BenchStack, run_bench, sandbox_backends, sandbox_bench_setup, sandbox_leftovers_removed

TASKS = 5
SETTLE_SECONDS = 60
GOAL_BYTES = 2**30


def open_live_view(socket_path: str, token: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(90)
        sock.connect(socket_path)
        sock.sendall(
            b"GET /vnc HTTP/1.1\r\nHost: sandbox\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: binary\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n"
        )
        status = sock.recv(4096).split(b"\r\n", 1)[0]
    if status != b"HTTP/1.1 101 Switching Protocols":
        raise RuntimeError(f"the live view did not open: {status!r}")


def body(stack: BenchStack) -> bool:
    from django.conf import settings

    from bench._memory import sandbox_memory_bytes
    from sandboxes.backends import get_backend
    from sandboxes.hibernation import sandbox_hibernate_if_idle, sandbox_mark_idle, sandboxes_hibernate_idle
    from sandboxes.models import Sandbox
    from sandboxes.services import sandbox_acquire, sandbox_destroy, sandbox_extend_lease
    from sessions.models import Session

    user = sandbox_bench_setup()
    if not any(sandbox_backends(("local+desktop",))):
        print("idle memory: skipped")
        return True
    backend = get_backend("local")
    groups: dict[str, list[Any]] = {}
    timers: list[tuple[float, str, str]] = []  # (due, sandbox id, lease): what a worker would run
    for label, eager, awake in (
        ("before (desktop with the sandbox, no hibernation)", True, True),
        ("desktop on demand, no hibernation (shell-only tasks)", False, True),
        ("after (desktop on demand + hibernation; tasks that used the browser)", True, False),
    ):
        handles = []
        for n in range(TASKS):
            session = Session.objects.create(owner=user, title=f"bench {label} {n}")
            handle = sandbox_acquire(session_id=str(session.pk))
            sandbox = Sandbox.objects.get(pk=handle.sandbox_id)
            if eager:
                open_live_view(sandbox.tool_api_socket, sandbox.token)
            handle.tool_api.shell_exec(id="task", command="echo done > result.txt", wait_seconds=10)
            handle.tool_api.close()
            if awake:
                sandbox_extend_lease(sandbox_id=handle.sandbox_id, minutes=60)
            else:  # the task ended: its idle timer starts
                sandbox_mark_idle(session_id=str(session.pk))
                lease = Sandbox.objects.get(pk=handle.sandbox_id).lease_expires_at
                due = time.monotonic() + settings.SANDBOX_IDLE_STOP_MINUTES * 60
                timers.append((due, handle.sandbox_id, lease.isoformat()))
            handles.append(handle)
        groups[label] = handles
    ended = time.monotonic()
    hibernated = 0
    for due, sandbox_id, lease in sorted(timers):  # the idle timers, each when it is due
        time.sleep(max(0.0, due - time.monotonic()))
        hibernated += sandbox_hibernate_if_idle(sandbox_id=sandbox_id, lease=lease)
    time.sleep(max(0.0, ended + SETTLE_SECONDS - time.monotonic()))
    hibernated += sandboxes_hibernate_idle()  # beat's safety net finds nothing left to do
    results: dict[str, int] = {}
    for label, handles in groups.items():
        total = sum(sandbox_memory_bytes(backend, h.sandbox_id) or 0 for h in handles)
        results[label] = total
        print(
            f"{label}: {TASKS} finished tasks' sandboxes {SETTLE_SECONDS} s after they ended: "
            f"{total / 2**20:.0f} MiB in all ({total / TASKS / 2**20:.0f} MiB each)"
        )
    print(
        f"hibernation: SANDBOX_IDLE_STOP_MINUTES={settings.SANDBOX_IDLE_STOP_MINUTES:g}, a timer per "
        f"sandbox; {hibernated} sandbox(es) hibernated"
    )
    for handles in groups.values():
        for h in handles:
            sandbox_destroy(sandbox_id=h.sandbox_id)
    after = results["after (desktop on demand + hibernation; tasks that used the browser)"]
    print(f"goal <= {GOAL_BYTES / 2**20:.0f} MiB: {'met' if after <= GOAL_BYTES else 'NOT met'}")
    return sandbox_leftovers_removed("local") == 0


if __name__ == "__main__":
    raise SystemExit(run_bench(body))
