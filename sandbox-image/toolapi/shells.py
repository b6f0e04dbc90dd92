"""The named shells of one tool API: start on first use, replace a dead bash (keeping its
console), bound their number, and route exec/view/wait/write/kill/interrupt by shell id."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import deque

from . import models
from .config import Settings
from .errors import ApiError, not_found
from .paths import PathPolicy
from .record import Record
from .shell import Shell


class ShellManager:
    def __init__(self, settings: Settings, policy: PathPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self._shells: dict[str, Shell] = {}
        self._lock = threading.Lock()
        self.command_dir = tempfile.mkdtemp(prefix="toolapi-shells-")
        self.extra_env: dict[str, str] = {}

    def set_env(self, env: dict[str, str]) -> int:
        """Variables for shells started from now on. A change kills the running shells, so the
        next command starts a shell that has them (their consoles are kept). Returns how many."""
        with self._lock:
            if env == self.extra_env:
                return 0
            self.extra_env = dict(env)
            alive = [shell for shell in self._shells.values() if shell.alive]
        for shell in alive:
            shell.kill()
        return len(alive)

    def exec(self, req: models.ShellExecRequest) -> models.ShellCommandResult:
        exec_dir = None
        if req.exec_dir is not None:
            exec_dir = self.policy.resolve(req.exec_dir)
            if not os.path.isdir(exec_dir):
                raise ApiError(400, f"exec_dir {exec_dir} is not a directory")
        timeout = min(req.timeout_seconds or self.settings.max_command_seconds,
                      self.settings.max_command_seconds)  # fmt: skip
        shell = self._get_or_start(req.id)
        record = shell.exec(req.command, exec_dir, timeout)
        shell.wait(record, req.wait_seconds)
        return shell.result(record)

    def view(self, req: models.ShellIdRequest) -> models.ShellViewResult:
        return self._get(req.id).view()

    def wait(self, req: models.ShellWaitRequest) -> models.ShellCommandResult:
        shell = self._get(req.id)
        record = shell.last()
        if record is None:
            raise not_found(f"shell {req.id!r} has run no command")
        shell.wait(record, req.seconds)
        return shell.result(record)

    def write(self, req: models.ShellWriteRequest) -> models.ShellCommandResult:
        shell = self._get(req.id)
        data = req.input.encode("utf-8")
        if req.press_enter:
            data += models.KEYS["enter"]
        if req.key is not None:
            data += models.KEYS[req.key]
        record = shell.write(data)
        shell.wait(record, req.wait_seconds)
        return shell.result(record)

    def kill(self, req: models.ShellIdRequest) -> models.ShellKillResult:
        with self._lock:
            shell = self._shells.pop(req.id, None)
        if shell is None:
            raise not_found(f"no shell named {req.id!r}")
        pids = shell.kill()
        last = shell.last()
        return models.ShellKillResult(id=req.id, killed_pids=sorted(pids), output=last.output() if last else "")

    def interrupt(self, req: models.ShellInterruptRequest) -> models.ShellInterruptResult:
        with self._lock:
            if req.id is not None and req.id not in self._shells:
                raise not_found(f"no shell named {req.id!r}")
            shells = [self._shells[req.id]] if req.id is not None else list(self._shells.values())
        results = []
        for shell in shells:
            record = shell.interrupt(req.grace_seconds)
            if record is not None:
                results.append(shell.result(record))
        return models.ShellInterruptResult(interrupted=results)

    def close_all(self) -> None:
        with self._lock:
            shells = list(self._shells.values())
            self._shells.clear()
        for shell in shells:
            shell.kill()
        shutil.rmtree(self.command_dir, ignore_errors=True)

    def _get(self, shell_id: str) -> Shell:
        with self._lock:
            shell = self._shells.get(shell_id)
        if shell is None:
            raise not_found(f"no shell named {shell_id!r}")
        return shell

    def _get_or_start(self, shell_id: str) -> Shell:
        with self._lock:
            shell = self._shells.get(shell_id)
            if shell is not None and shell.alive:
                return shell
            if shell is None and len(self._shells) >= self.settings.max_shells:
                raise ApiError(429, f"too many shells ({self.settings.max_shells}); kill one with /shell/kill")
            # A dead shell (its bash exited) is replaced, keeping its console.
            console: deque[Record] = (
                shell.console if shell is not None else deque(maxlen=self.settings.max_console_records)
            )
            shell = Shell(shell_id, self.settings, self.command_dir, console, self.extra_env)
            self._shells[shell_id] = shell
            return shell
