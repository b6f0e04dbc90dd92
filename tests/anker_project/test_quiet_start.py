"""A clean start says nothing a user cannot act on: no ".env not found" without a .env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
