"""The server process itself: start-up checks, logging, shutdown. Local only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PACKAGE_PARENT, Api, Target, start_server, stop_server


def run_toolapi(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOOLAPI_")}
    clean.update(env, PYTHONPATH=str(PACKAGE_PARENT))
    return subprocess.run(
        [sys.executable, "-m", "toolapi", "--port", "0"],
        env=clean, capture_output=True, text=True, timeout=30, cwd=str(PACKAGE_PARENT),
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _local_only(target: Target) -> None:
    if not target.local:
        pytest.skip("inspects the server process; only for the local target")


def test_it_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    result = run_toolapi({"TOOLAPI_ROOT": str(tmp_path)})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "toolapi: TOOLAPI_TOKEN is not set; refusing to start without a token\n"


def test_it_refuses_a_home_outside_the_root(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    result = run_toolapi(
        {"TOOLAPI_TOKEN": "x" * 32, "TOOLAPI_ROOT": str(tmp_path / "root"), "TOOLAPI_HOME": str(tmp_path)}
    )
    assert result.returncode == 2
    assert (
        result.stderr == f"toolapi: TOOLAPI_HOME {str(tmp_path)!r} is outside TOOLAPI_ROOT {str(tmp_path / 'root')!r}\n"
    )


def test_the_log_never_contains_the_token(api: Api, target: Target) -> None:
    api.client.get("/health")
    api.client.post("/file/read", json={"file": target.token})
    api.client.get("/health", headers={"Authorization": "Bearer " + target.token + "x"})
    api.client.get(f"/nope/{target.token}", headers={"Authorization": "Bearer " + target.token[:5]})

    assert target.log_path is not None
    log = target.log_path.read_text()
    assert "GET /health 200" in log
    assert "GET /health 401" in log
    assert target.token not in log


def test_stopping_the_server_kills_its_shells(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    proc, url, token = start_server(tmp_path / "root", tmp_path / "server.log")
    import httpx

    data = httpx.post(
        f"{url}/shell/exec",
        json={"id": "s", "command": "echo $$; sleep 4321.5", "wait_seconds": 0.5},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["data"]
    bash_pid = int(data["output"].split()[0])

    stop_server(proc)

    assert proc.returncode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(bash_pid, 0)
