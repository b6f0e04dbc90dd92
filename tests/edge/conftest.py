"""Real daphne processes serving the ASGI app on the test database, Redis and Mongo: the edge
(body caps, login limits) is tested as a client on the network meets it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.db import connection

from tests.bootstrap import ROOT, free_port

BIN = Path(sys.executable).parent


@dataclass
class Web:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def spooled_bytes(self) -> int:
        """Bytes in the temporary files daphne holds open (deleted files it spools bodies to)."""
        total = 0
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
                if target.endswith("(deleted)"):
                    total += os.stat(fd).st_size
            except OSError:
                continue
        return total


def _database_url() -> str:
    settings = connection.settings_dict
    assert settings["ENGINE"].endswith("sqlite3") or "DATABASE_URL" in os.environ
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{settings['NAME']}"))


@pytest.fixture(scope="module")
def start_web(
    django_db_setup: None, django_db_blocker: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Web]]:
    started: list[Web] = []

    def start(**env_overrides: str) -> Web:
        env = dict(os.environ, DATABASE_URL=_database_url(), PYTHONUNBUFFERED="1", **env_overrides)
        port = free_port()
        log = tmp_path_factory.mktemp("web") / "web.log"
        proc = subprocess.Popen(
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "anker_project.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        web = Web(port, proc, log)
        started.append(web)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not start: {log.read_text(errors='replace')[-3000:]}")
            try:
                httpx.get(f"{web.url}/api/v1/auth/me", timeout=1)
                return web
            except httpx.HTTPError:
                time.sleep(0.1)

    yield start
    for web in started:
        web.proc.terminate()
    for web in started:
        try:
            web.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            web.proc.kill()
            web.proc.wait()


def forget_login_failures() -> None:
    from anker_project.login_limits import KEY_PREFIX
    from anker_project.redis_client import get_redis

    redis = get_redis()
    keys = list(redis.scan_iter(match=f"{KEY_PREFIX}:*", count=1000))
    if keys:
        redis.delete(*keys)


@pytest.fixture(autouse=True)
def no_login_failures_carry_over() -> Iterator[None]:
    """Login failures live in Redis, beyond a test's database: each test starts and ends with none."""
    forget_login_failures()
    yield
    forget_login_failures()
