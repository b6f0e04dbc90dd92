"""The whole stack in subprocesses: daphne serving the ASGI app and a real Celery worker,
sharing the test database, Redis, the Mongo-compatible server and the scripted model."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from django.db import connection
from playwright.sync_api import Browser, Page

from anker_project.redis_client import get_redis
from sandboxes.backends import get_backend
from sandboxes.backends.docker import engine_available
from tests.bootstrap import ROOT, free_port
from tests.e2e.web import browser_session, page_session
from tests.support.worker import celery_worker_argv

BIN = Path(sys.executable).parent


def test_database_url() -> str:
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{settings['NAME']}"))


@dataclass
class Stack:
    base_url: str
    ws_url: str
    worker_log: Path
    tmp: Path

    def worker_output(self) -> str:
        return self.worker_log.read_text(errors="replace")


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer: {log.read_text(errors='replace')[-3000:]}")


def start_worker(
    env: dict[str, str], log: Path, name: str, *, queues: str = "turns,sandboxes,default,jobs", concurrency: int = 8
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        celery_worker_argv(name=f"{name}@%h", queues=queues, concurrency=concurrency),
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_worker_ready(log: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while "ready." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def stack_env(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env["PYTHONUNBUFFERED"] = "1"
    # Agent-mode sessions get real sandboxes: containers when an engine answers (they have the
    # browser and VNC), else bubblewrap jails. A private prefix lets the teardown find ours.
    # ANKER_E2E_BACKEND=local runs them on local jails (with their desktop) even beside an engine.
    env["SANDBOX_BACKEND"] = os.environ.get("ANKER_E2E_BACKEND") or ("docker" if engine_available() else "local")
    env["SANDBOX_NAME_PREFIX"] = f"anker-e2e-{secrets.token_hex(3)}"
    env["SANDBOX_LOCAL_DIR"] = str(tmp_path_factory.mktemp("sandboxes"))
    # A second pickable model (the model picker): the scripted server under another model id.
    second = {"name": "deep", "provider": "compatible", "base_url": env["API_BASE"], "key_env": "API_KEY"}
    env["LLM_MODELS"] = json.dumps([{**second, "model": "deep-v3"}])
    return env


# Package-scoped: the stack's worker consumes the shared broker, so it must be gone before
# other packages' tests look at their queues or start workers of their own.
@pytest.fixture(scope="package")
def stack(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    for queue in ("turns", "sandboxes", "default", "jobs"):
        get_redis().delete(queue)
    port = free_port()
    web_log, worker_log = tmp / "web.log", tmp / "worker.log"
    web = subprocess.Popen(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "anker_project.asgi:application"],
        cwd=ROOT,
        env=stack_env,
        stdout=web_log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = start_worker(stack_env, worker_log, f"e2e-{secrets.token_hex(3)}")
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/v1/auth/me", web, web_log)
        wait_worker_ready(worker_log, worker)
        yield Stack(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", worker_log, tmp)
    finally:
        stop(worker)
        stop(web)
        _destroy_sandboxes(stack_env)


def _destroy_sandboxes(env: dict[str, str]) -> None:
    """Remove every sandbox the stack's worker made (they carry its private prefix)."""
    from django.test import override_settings

    with override_settings(SANDBOX_NAME_PREFIX=env["SANDBOX_NAME_PREFIX"], SANDBOX_LOCAL_DIR=env["SANDBOX_LOCAL_DIR"]):
        backend = get_backend(env["SANDBOX_BACKEND"])
        for sandbox_id in backend.list():
            backend.destroy(sandbox_id)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from browser_session()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from page_session(browser)
