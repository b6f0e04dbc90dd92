"""Start the real sandbox tool API (`python -m toolapi` from sandbox-image/) on the host: one
launcher for the tests' `toolapi_server` fixture and the benchmarks. The `attached` sandbox
backend points at what it starts."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30


@dataclass
class ToolApiProcess:
    proc: subprocess.Popen[bytes]
    url: str
    token: str
    home: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_toolapi(root: Path) -> ToolApiProcess:
    """A tool API confined to `root` (its home is `root/home`), on a free loopback port, with a
    fresh token; returns once it listens. Raises RuntimeError if it does not start."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    env = {**os.environ, "TOOLAPI_TOKEN": token, "TOOLAPI_ROOT": str(root), "TOOLAPI_HOME": str(home)}
    env["TOOLAPI_SERVICES"] = ""
    proc = subprocess.Popen(
        [sys.executable, "-m", "toolapi", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT / "sandbox-image",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode(errors="replace")
        match = re.search(r"toolapi listening on (http://\S+)", line)
        if match:
            # Keep draining its output so it never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
            return ToolApiProcess(proc, match.group(1), token, home)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the tool API did not start")
