"""A clean start says nothing a user cannot act on: no ".env not found" without a .env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def test_loading_the_settings_without_a_env_file_logs_nothing_about_it(tmp_path: Path) -> None:
    assert not (BASE_DIR / ".env").exists()  # the checkout's state this test is about
    code = (
        "import logging; logging.basicConfig(level=logging.INFO); "
        "import django; django.setup(); print('settings loaded')"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "anker_project.settings"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "settings loaded"
    assert ".env not found" not in out.stderr, out.stderr  # django-environ says so at INFO


def _worker_output(tmp_path: Path, **extra_env: str) -> str:
    """Start a real Celery worker on a queue nothing uses, until it is ready; its console output."""
    from tests.e2e.conftest import stop, wait_worker_ready
    from tests.support.worker import celery_worker_argv

    log = tmp_path / f"worker-{len(list(tmp_path.iterdir()))}.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "anker_project.settings", **extra_env}
    argv = celery_worker_argv(name="quiet-start@%h", queues="quiet-start-test", concurrency=1)
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_worker_ready(log, proc)
    finally:
        stop(proc)
    return log.read_text(errors="replace")


def test_the_embedded_worker_started_as_root_prints_no_root_warning(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("Celery warns about root only to root")
    plain = _worker_output(tmp_path)
    embedded = _worker_output(tmp_path, ANKER_EMBEDDED="1")

    assert "superuser privileges" in plain  # what `make run` used to print, and a bare worker still does
    assert "superuser privileges" not in embedded, embedded
    assert "SecurityWarning" not in embedded
