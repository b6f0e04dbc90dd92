"""`make run` (anker_project.embedded) keeps Anker up: a child that dies is restarted with
backoff, said on the console and in /api/v1/health; only Ctrl-C stops it, leaving nothing
behind. Its Redis keeps an append-only file, so a queued turn survives a Redis crash.

Everything real: the runner as a subprocess with its own data directory and ports, its
private Redis and Mongo-compatible server, daphne, a Celery worker, beat and Flower.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from anker_project.embedded import _redis_argv
from tests.bootstrap import ROOT, free_port

pytestmark = pytest.mark.e2e


def wait_for(condition: Callable[[], Any], timeout: float, what: str, log: Callable[[], str] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{log()[-4000:]}")
        time.sleep(0.2)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie no one reaped yet is dead too.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


@dataclass
class Embedded:
    proc: subprocess.Popen[bytes]
    output_file: Path
    data_dir: Path
    base_url: str
    env: dict[str, str]
    token: str = ""

    def output(self) -> str:
        return self.output_file.read_text(errors="replace")

    def pids(self) -> dict[str, int | None]:
        status = json.loads((self.data_dir / "run" / "processes.json").read_text())
        return {name: info["pid"] for name, info in status["processes"].items()}

    def log_in_as_staff(self) -> None:
        """Only staff see the report per component and process."""
        password = "embedded staff password"
        subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "root", "--email", "r@x.test"],
            cwd=ROOT,
            env={**self.env, "DJANGO_SUPERUSER_PASSWORD": password},
            check=True,
            capture_output=True,
        )
        response = httpx.post(
            f"{self.base_url}/api/v1/auth/login", json={"username": "root", "password": password}, timeout=10
        )
        assert response.status_code == 200, response.text
        self.token = response.json()["data"]["access_token"]

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            response = httpx.get(f"{self.base_url}/api/v1/health", headers=headers, timeout=5)
        except httpx.HTTPError:
            return 0, {}
        return response.status_code, response.json()["data"]


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Embedded]:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        # The runner starts its own Redis, Mongo and SQLite only when these are unset.
        if key not in ("REDIS_URL", "MONGODB_URL", "DATABASE_URL", "CELERY_BROKER_URL")
    }
    env.update(
        ANKER_DATA_DIR=str(tmp_path / "data"),
        PORT=str(port),
        FLOWER_PORT=str(free_port()),
        EMBEDDED_REDIS_PORT=str(free_port()),
        EMBEDDED_MONGO_PORT=str(free_port()),
        WORKER_CONCURRENCY="4",
        SANDBOX_BACKEND="local",
        PYTHONUNBUFFERED="1",
    )
    output = tmp_path / "runner.out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "anker_project.embedded"],
        cwd=ROOT,
        env=env,
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    runner = Embedded(proc, output, tmp_path / "data", f"http://127.0.0.1:{port}", env)
    try:
        yield runner
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def healthy(runner: Embedded) -> dict[str, Any] | None:
    code, data = runner.health()
    return data if code == 200 else None


def healthy_with(runner: Embedded, name: str, prefix: str) -> bool:
    code, data = runner.health()
    return code == 200 and data.get("processes", {}).get(name, "").startswith(prefix)


def test_the_runner_restarts_dead_children_with_backoff_and_only_ctrl_c_stops_it(embedded: Embedded) -> None:
    wait_for(lambda: "Anker is running." in embedded.output(), 180, "the runner to start", embedded.output)
    embedded.log_in_as_staff()
    data = wait_for(lambda: healthy(embedded), 120, "a healthy stack", embedded.output)
    assert data["processes"] == {name: "running" for name in ("redis", "mongo", "web", "worker", "beat", "flower")}
    first = embedded.pids()

    # The worker dies: it is started again after 1 s, and health says it was.
    os.killpg(first["worker"], signal.SIGKILL)
    wait_for(lambda: "worker restarted (restart 1, pid" in embedded.output(), 30, "a restart", embedded.output)
    assert "worker exited with code -9; restarting it in 1 s." in embedded.output()
    wait_for(
        lambda: healthy_with(embedded, "worker", "running (restarts: 1; last exit code -9 at "),
        120,
        "the restarted worker to answer",
        embedded.output,
    )
    second = embedded.pids()
    assert second["worker"] not in (None, first["worker"])

    # It dies again soon after: the delay doubles.
    os.killpg(second["worker"], signal.SIGKILL)
    wait_for(lambda: "worker restarted (restart 2, pid" in embedded.output(), 30, "a second restart", embedded.output)
    assert "worker exited with code -9; restarting it in 2 s." in embedded.output()

    # Redis and the Mongo server die: both come back, and the web, the worker and beat carry on.
    os.killpg(first["redis"], signal.SIGKILL)
    os.killpg(first["mongo"], signal.SIGKILL)
    wait_for(lambda: "redis restarted (restart 1, pid" in embedded.output(), 30, "Redis's restart", embedded.output)
    wait_for(lambda: "mongo restarted (restart 1, pid" in embedded.output(), 30, "Mongo's restart", embedded.output)
    data = wait_for(lambda: healthy(embedded), 120, "health after the servers' restart", embedded.output)
    assert {k: data[k] for k in ("database", "redis", "mongo", "worker")} == dict.fromkeys(
        ("database", "redis", "mongo", "worker"), "ok"
    )
    assert data["processes"]["redis"].startswith("running (restarts: 1; last exit code -9 at ")
    assert data["processes"]["mongo"].startswith("running (restarts: 1; last exit code -9 at ")
    assert data["processes"]["web"] == "running"
    assert embedded.proc.poll() is None  # nothing of this stopped the runner

    # Ctrl-C stops it all, leaving no process behind.
    last = embedded.pids()
    embedded.proc.send_signal(signal.SIGINT)
    assert embedded.proc.wait(timeout=60) == 0
    assert "Stopping Anker…" in embedded.output()
    assert [name for name, pid in last.items() if pid is not None and alive(pid)] == []


def test_the_embedded_redis_keeps_a_queued_message_across_a_crash(tmp_path: Path) -> None:
    port = free_port()
    argv = _redis_argv(port, tmp_path)

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        client = redis.Redis(port=port)
        wait_for(lambda: _pings(client), 30, "redis to start")
        return proc

    proc = start()
    try:
        client = redis.Redis(port=port)
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        client.lpush("turns", b'{"a": "queued turn"}')
        proc.kill()  # no shutdown, no save: only the append-only file can bring it back
        proc.wait()
        proc = start()
        assert redis.Redis(port=port).lrange("turns", 0, -1) == [b'{"a": "queued turn"}']
    finally:
        proc.kill()
        proc.wait()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
