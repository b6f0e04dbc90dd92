"""The tool API contract suite runs against one of:

- a server this conftest starts (default): ``python -m toolapi`` in a
  subprocess on a free loopback port, with a temporary TOOLAPI_ROOT;
- an already-running tool API (a Docker or bubblewrap sandbox): set
  ``TOOLAPI_TEST_URL`` (``http://host:port`` or ``unix:///path/to/socket``),
  ``TOOLAPI_TEST_TOKEN`` and ``TOOLAPI_TEST_ROOT`` (the server's TOOLAPI_ROOT),
  and optionally ``TOOLAPI_TEST_SERVICES`` (the services health must report
  ``ok``, e.g. ``x,cdp,vnc``; the others must be ``absent``)
  and ``TOOLAPI_TEST_MAX_OUTPUT_BYTES`` (the server's cap, default 65536).

Tests talk to the server only over HTTP, so they hold for every target; the
few that need the server's own process or log skip for a remote target.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # sandbox-image/
START_TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class Target:
    url: str
    token: str
    root: str
    max_output_bytes: int
    expected_services: frozenset[str] | None  # None: not known, check shape only
    log_path: Path | None = None  # only when this conftest started the server

    @property
    def local(self) -> bool:
        return self.log_path is not None

    def client(self, headers: dict[str, str]) -> httpx.Client:
        """An HTTP client for the target; ``unix:///path`` URLs go over that socket."""
        timeout = httpx.Timeout(120.0)
        if self.url.startswith("unix://"):
            transport = httpx.HTTPTransport(uds=self.url[len("unix://") :])
            return httpx.Client(base_url="http://sandbox", headers=headers, timeout=timeout, transport=transport)
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def start_server(
    root: Path, log_path: Path, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str, str]:
    """Start ``python -m toolapi --port 0`` and return (process, url, token)."""
    token = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLAPI_", "CDP_", "VNC_"))}
    env.pop("DISPLAY", None)
    env.update(
        TOOLAPI_TOKEN=token,
        TOOLAPI_ROOT=str(root),
        TOOLAPI_HOME=str(root / "home"),
        TOOLAPI_SERVICES="",
        PYTHONPATH=str(PACKAGE_PARENT),
    )
    env.update(extra_env or {})
    log = open(log_path, "ab")  # noqa: SIM115 - the server's stderr for its whole life
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolapi", "--host", "127.0.0.1", "--port", "0"],
        cwd=str(PACKAGE_PARENT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()  # "toolapi listening on http://127.0.0.1:PORT"
    if not line.startswith("toolapi listening on "):
        proc.kill()
        raise RuntimeError(f"toolapi did not start: {line!r}; log: {log_path.read_text()}")
    url = line.split()[-1]
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            if httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {token}"}).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"toolapi at {url} never answered; log: {log_path.read_text()}")
        time.sleep(0.05)
    return proc, url, token


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    url = os.environ.get("TOOLAPI_TEST_URL")
    cap = int(os.environ.get("TOOLAPI_TEST_MAX_OUTPUT_BYTES", "65536"))
    if url:
        token = os.environ["TOOLAPI_TEST_TOKEN"]
        root = os.environ.get("TOOLAPI_TEST_ROOT", "/")
        services = os.environ.get("TOOLAPI_TEST_SERVICES")
        expected = None if services is None else frozenset(s for s in services.split(",") if s)
        yield Target(url.rstrip("/"), token, root, cap, expected)
        return
    base = tmp_path_factory.mktemp("toolapi")
    root_dir = base / "root"
    root_dir.mkdir()
    log_path = base / "server.log"
    proc, url, token = start_server(root_dir, log_path)
    try:
        yield Target(url, token, os.path.realpath(root_dir), cap, frozenset(), log_path)
    finally:
        stop_server(proc)


class Api:
    """A thin client: every call returns the raw httpx.Response."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.client = target.client({"Authorization": f"Bearer {target.token}"})

    def post(self, endpoint: str, /, **body: Any) -> httpx.Response:
        return self.client.post(endpoint, json=body)

    def ok(self, endpoint: str, /, **body: Any) -> dict[str, Any]:
        """POST and insist on success; returns the envelope's data."""
        response = self.post(endpoint, **body)
        assert response.status_code == 200, response.text
        envelope = response.json()
        assert envelope["ok"] is True, envelope
        assert set(envelope) == {"ok", "data"}
        data: dict[str, Any] = envelope["data"]
        return data

    def sh(self, command: str, shell: str = "checker") -> str:
        """Run a command in a helper shell; assert it succeeded; return its output."""
        data = self.ok("/shell/exec", id=shell, command=command, wait_seconds=60)
        assert data["status"] == "completed", data
        assert data["returncode"] == 0, data
        return str(data["output"])

    def exists(self, path: str) -> bool:
        # Through the (unconfined) shell, so it also sees outside the root.
        return self.sh(f"test -e {path} && echo yes || echo no").strip() == "yes"

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="session")
def api(target: Target) -> Iterator[Api]:
    client = Api(target)
    yield client
    client.post("/shell/kill", id="checker")
    client.close()


@pytest.fixture
def shell_id(api: Api) -> Iterator[str]:
    """A fresh shell id for one test, killed afterwards."""
    sid = f"t-{uuid.uuid4().hex[:12]}"
    yield sid
    api.post("/shell/kill", id=sid)


@pytest.fixture(scope="session")
def home(api: Api) -> str:
    return api.sh('printf %s "$HOME"')


@pytest.fixture
def work(api: Api, target: Target) -> Iterator[str]:
    """A fresh directory inside the server's root, removed afterwards."""
    base = target.root.rstrip("/") or ""
    path = f"{base}/toolapi-tests/{uuid.uuid4().hex[:12]}"
    api.sh(f"mkdir -p {path}")
    yield path
    api.sh(f"rm -rf {path}")


@pytest.fixture
def outside(api: Api, target: Target) -> Iterator[str]:
    """A fresh directory outside the server's root (skips when the root is /)."""
    root = target.root.rstrip("/")
    if not root:
        pytest.skip("TOOLAPI_ROOT is /: nothing is outside it")
    candidates = [c for c in ("/tmp", "/var/tmp", "/dev/shm") if c != root and not c.startswith(root + "/")]
    if not candidates:
        pytest.skip(f"no writable directory outside {root} to aim at")
    candidate = candidates[0]
    path = api.sh(f"mktemp -d {candidate}/toolapi-outside.XXXXXX").strip()
    yield path
    api.sh(f"rm -rf {path}")
