"""The one way tests and benchmarks start a real Celery worker subprocess: the same argv
(thread pool, named queues, no gossip or mingle) for the e2e stack, the jobs tests and `bench/`."""

from __future__ import annotations

import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def celery_worker_argv(
    *, name: str, queues: str, concurrency: int | str, loglevel: str = "INFO", heartbeat: bool = True
) -> list[str]:
    """`celery -A anker_project worker -P threads` named `name` (`%h` is the host) on `queues`."""
    argv = [str(BIN / "python"), "-m", "celery", "-A", "anker_project", "worker", "-P", "threads"]
    argv += ["-c", str(concurrency), "-Q", queues, "-n", name, "-l", loglevel, "--without-gossip", "--without-mingle"]
    if not heartbeat:
        argv.append("--without-heartbeat")
    return argv
