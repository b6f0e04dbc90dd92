"""The production stack's compose file is valid, as `docker-compose config` reads it."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.bootstrap import ROOT
from tests.support.ci import in_ci


def test_the_compose_file_is_valid_and_has_every_service(tmp_path: Path) -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if in_ci():
            pytest.fail("docker-compose is not installed (required in CI)")
        pytest.skip("docker-compose is not installed")
    # The services read .env: an empty one beside a copy of the file keeps the real one untouched.
    (tmp_path / ".env").write_text("")
    (tmp_path / "sandbox-image").symlink_to(ROOT / "sandbox-image")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    env = {**os.environ, "POSTGRES_PASSWORD": "p", "DJANGO_SECRET_KEY": "s", "FLOWER_USER": "u", "FLOWER_PASSWORD": "f"}
    args = [binary, "-f", str(tmp_path / "docker-compose.yml")]

    check = subprocess.run([*args, "config", "-q"], env=env, capture_output=True, text=True, timeout=60)
    services = subprocess.run([*args, "config", "--services"], env=env, capture_output=True, text=True, timeout=60)

    assert check.returncode == 0, check.stderr
    assert sorted(services.stdout.split()) == sorted(
        [
            *("sandbox-image", "migrate", "web", "worker", "worker-jobs", "beat", "flower"),
            *("redis", "postgres", "mongo", "egress-proxy"),
        ]
    )
