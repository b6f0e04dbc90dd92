"""Jobs tests: API-key clients, the broker's queues read as data, a local webhook receiver,
and real Celery workers for the parts that cross processes."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from anker_project.redis_client import get_redis
from jobs.models import JobApiKey
from tests.agents.conftest import sandbox, toolapi_server  # noqa: F401 - agent-mode jobs use them
from tests.e2e.conftest import start_worker, stop, test_database_url, wait_worker_ready

QUEUES = ("jobs", "turns", "default", "sandboxes")


def key_client(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


@dataclass
class Key:
    obj: JobApiKey
    raw: str
    client: APIClient


def make_key(owner: Any, name: str = "ci", **limits: Any) -> Key:
    obj, raw = JobApiKey.objects.create_key(owner=owner, name=name, **limits)
    assert isinstance(obj, JobApiKey)
    return Key(obj, raw, key_client(raw))


@pytest.fixture
def alice_key(alice: Any) -> Key:
    return make_key(alice, "alice-ci")


@pytest.fixture
def bob_key(bob: Any) -> Key:
    return make_key(bob, "bob-ci")


def queued(queue: str) -> list[dict[str, Any]]:
    """Every task message waiting in a broker queue: {task, kwargs}."""
    out = []
    for raw in reversed(get_redis().lrange(queue, 0, -1)):  # LPUSH: the oldest is last
        message = json.loads(raw)
        _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append({"task": message["headers"]["task"], "kwargs": kwargs})
    return out


def start_queued_jobs() -> list[str]:
    """Run every `jobs.start` waiting on the `jobs` queue, oldest first, as the jobs worker
    would (a submission answers `queued` and leaves the start to it); the turns those starts
    enqueue, and any other message, stay on the queue. Returns each start's outcome."""
    from jobs.services import job_start

    redis = get_redis()
    outcomes = []
    for raw in reversed(redis.lrange("jobs", 0, -1)):  # LPUSH: the oldest is last
        message = json.loads(raw)
        if message["headers"]["task"] != "jobs.start" or not redis.lrem("jobs", 1, raw):
            continue  # another message, or another starter took it
        _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        outcomes.append(job_start(job_id=kwargs["job_id"]))
    return outcomes


@contextlib.contextmanager
def starting_jobs_meanwhile() -> Iterator[None]:
    """A jobs worker's starts, in a thread, while the block runs: each `jobs.start` is run as
    soon as it is seen (the turns stay queued). What is left when the block ends is run then."""
    from django.db import connection

    done = threading.Event()

    def loop() -> None:
        try:
            while not done.is_set():
                start_queued_jobs()
                done.wait(0.005)
        finally:
            connection.close()

    thread = threading.Thread(target=loop, name="jobs-starter")
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    start_queued_jobs()


@pytest.fixture(autouse=True)
def empty_queues(settings: SettingsWrapper) -> Iterator[None]:
    # Tests post webhooks to a receiver on 127.0.0.1; the refusal test turns this off.
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    get_redis().delete(*QUEUES)
    yield
    get_redis().delete(*QUEUES)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers, in order; then 200
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, n: int, timeout: float) -> list[Received]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= n, timeout=timeout):
                raise AssertionError(f"{len(self.received)} webhook(s) arrived, expected {n}")
            return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 that records every POST and answers from `statuses`."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.arrived:
                state.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                code = state.statuses.pop(0) if state.statuses else 200
                state.arrived.notify_all()
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def worker_factory(django_db_setup: None, tmp_path: Path) -> Iterator[Callable[..., tuple[Path, Any]]]:
    """Start real Celery workers (threads pool) on chosen queues, sharing the test database."""
    import os

    procs = []

    def start(queues: str, name: str, concurrency: int = 4, **extra_env: str) -> tuple[Path, Any]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=test_database_url(),
            PYTHONUNBUFFERED="1",
            WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
            **extra_env,
        )
        log = tmp_path / f"{name}.log"
        proc = start_worker(env, log, name, queues=queues, concurrency=concurrency)
        procs.append(proc)
        wait_worker_ready(log, proc)
        return log, proc

    try:
        yield start
    finally:
        for proc in procs:
            stop(proc)
