"""Flower in the production stack: published on the host's loopback only, with a login that has
no default and never appears on a command line."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.bootstrap import ROOT
from tests.support.ci import in_ci

SECRETS = {"POSTGRES_PASSWORD": "p", "DJANGO_SECRET_KEY": "s", "FLOWER_USER": "ops", "FLOWER_PASSWORD": "f"}


def compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        if in_ci():
            pytest.fail("docker-compose is not installed (required in CI)")
        pytest.skip("docker-compose is not installed")
    (tmp_path / ".env").write_text("")
    if not (tmp_path / "sandbox-image").exists():
        (tmp_path / "sandbox-image").symlink_to(ROOT / "sandbox-image")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [binary, "-f", str(tmp_path / "docker-compose.yml"), "config"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_flower_is_published_on_loopback_only_with_its_login_in_the_environment(tmp_path: Path) -> None:
    result = compose_config(tmp_path, SECRETS)

    assert result.returncode == 0, result.stderr
    flower: dict[str, Any] = yaml.safe_load(result.stdout)["services"]["flower"]
    assert flower["ports"] == ["127.0.0.1:5555:5555/tcp"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "ops:f"
    assert flower["command"] == ["celery", "-A", "anker_project", "flower", "--address=0.0.0.0", "--port=5555"]


def test_flower_has_no_default_user(tmp_path: Path) -> None:
    result = compose_config(tmp_path, {k: v for k, v in SECRETS.items() if k != "FLOWER_USER"})

    assert result.returncode != 0
    assert "set FLOWER_USER in .env" in result.stderr
