"""Persistent named shells: one long-lived interactive bash per shell id,
driven through a pseudo-terminal.

How a command runs: its text is written to a private file and the shell is
sent ``source <file>`` (so commands of any length and with any quoting work,
and ``cd``/``export``/background jobs persist in that bash). A
``PROMPT_COMMAND`` prints a marker carrying ``$?`` and ``$PWD`` before each
prompt; seeing the marker in the pty stream means the command finished.
Because bash runs with job control on its own controlling terminal, Ctrl-C
written to the pty interrupts the foreground job exactly as in a terminal.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shlex
import struct
import subprocess
import sys
import termios
import threading
import time
from collections import deque

from . import models
from .config import Settings
from .errors import ApiError, conflict
from .ptyreader import PtyReader
from .record import Record
from .shellenv import TERMINAL_COLUMNS, TERMINAL_ROWS, _user_name, shell_env
from .shellsignals import ShellSignals
from .terminal import OutputBuffer

log = logging.getLogger("toolapi.shell")

START_TIMEOUT_SECONDS = 10.0
WRITE_CHUNK = 4096
WRITE_TIMEOUT_SECONDS = 10.0

# Runs in the child between fork and bash: make the pty (already on fd 0) the
# controlling terminal of the new session, so job control and ^C work.
_CTTY_EXEC = (
    "import fcntl, os, sys, termios\nfcntl.ioctl(0, termios.TIOCSCTTY, 0)\nos.execvp(sys.argv[1], sys.argv[1:])\n"
)

_RCFILE = """\
unset HISTFILE
HISTCONTROL=ignoreboth
__toolapi_prompt() {{
    local rc=$?
    PS1=''
    PS2=''
    printf '\\036\\036TOOLAPI{nonce}:%d:%s\\037\\037' "$rc" "$PWD"
}}
readonly -f __toolapi_prompt
PROMPT_COMMAND=__toolapi_prompt
readonly PROMPT_COMMAND
PS1=''
PS2=''
"""


class Shell(PtyReader, ShellSignals):
    """One bash on a pty. The pty reader (ptyreader.py) and the timeout/interrupt/kill
    handling (shellsignals.py) are mixins over this class's state."""

    def __init__(
        self,
        shell_id: str,
        settings: Settings,
        command_dir: str,
        console: deque[Record],
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.id = shell_id
        self.extra_env = dict(extra_env or {})
        self.settings = settings
        self.command_dir = command_dir
        self.console = console
        self.cwd = settings.home
        self.alive = True
        self.cond = threading.Condition()
        self.current: Record | None = None
        self._counter = 0
        self._nonce = secrets.token_hex(8)
        self._marker_start = b"\x1e\x1eTOOLAPI" + self._nonce.encode() + b":"
        self._pending = bytearray()
        self._ready = False
        self._user = _user_name()
        self._start()

    # --- lifecycle ----------------------------------------------------------

    def _start(self) -> None:
        rcfile = os.path.join(self.command_dir, f"{self.id}.{self._nonce}.rc")
        with open(rcfile, "w", encoding="utf-8") as fh:
            fh.write(_RCFILE.format(nonce=self._nonce))
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", TERMINAL_ROWS, TERMINAL_COLUMNS, 0, 0))
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _CTTY_EXEC,
                    "bash",
                    "--noprofile",
                    "--rcfile",
                    rcfile,
                    "--noediting",
                    "-i",
                ],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=self.settings.home,
                env={**shell_env(self.settings), **self.extra_env},
                start_new_session=True,
                close_fds=True,
            )
        finally:
            os.close(slave)
        self.master = master
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read_loop, name=f"shell-{self.id}", daemon=True)
        self._reader.start()
        self._waiter = threading.Thread(target=self._wait_loop, name=f"shell-{self.id}-wait", daemon=True)
        self._waiter.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with self.cond:
            while not self._ready and self.alive:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.cond.wait(remaining)
            ready = self._ready
        if not ready:
            self.kill()
            raise ApiError(500, f"shell {self.id!r} did not start within {START_TIMEOUT_SECONDS:g} s")
        log.info("shell %s started (pid %d)", self.id, self.pid)

    # --- commands -----------------------------------------------------------

    def exec(self, command: str, exec_dir: str | None, timeout: float) -> Record:
        with self.cond:
            if not self.alive:
                raise conflict(f"shell {self.id!r} has exited")
            if self.current is not None and not self.current.done:
                raise conflict(
                    f"shell {self.id!r} is still running {self.current.command!r}; "
                    "use /shell/wait, /shell/write or /shell/kill first"
                )
            self._counter += 1
            path = os.path.join(self.command_dir, f"{self.id}.{self._nonce}.{self._counter}.sh")
            body = command if command.endswith("\n") else command + "\n"
            if exec_dir is not None:
                body = f"cd -- {shlex.quote(exec_dir)} || return\n" + body
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(body)
            record = Record(
                ps1=self._ps1(exec_dir or self.cwd),
                command=command,
                buffer=OutputBuffer(self.settings.max_output_bytes),
            )
            self.console.append(record)
            self.current = record
            self._keep_echo_off()
            os.write(self.master, f" source {shlex.quote(path)}\n".encode())
            record.timer = threading.Timer(timeout, self._on_timeout, args=(record, timeout))
            record.timer.daemon = True
            record.timer.start()
            return record

    def write(self, data: bytes) -> Record:
        with self.cond:
            record = self.current
            if record is None or record.done or not self.alive:
                raise conflict(f"no command is running in shell {self.id!r}; use /shell/exec to run one")
        # A program that does not read its input makes the pty write block, so
        # type from a helper thread (outside the lock: the reader thread must
        # keep draining output) and give up waiting after a while.
        progress = [0]

        def type_input() -> None:
            view = memoryview(data)
            try:
                while view:
                    written = os.write(self.master, view[:WRITE_CHUNK])
                    view = view[written:]
                    progress[0] += written
            except OSError:
                pass  # the shell went away; nothing left to type into

        typist = threading.Thread(target=type_input, name=f"shell-{self.id}-input", daemon=True)
        typist.start()
        typist.join(WRITE_TIMEOUT_SECONDS)
        if typist.is_alive():
            raise conflict(
                f"the program in shell {self.id!r} is not reading its input: {progress[0]} of {len(data)} "
                f"bytes typed after {WRITE_TIMEOUT_SECONDS:g} s; the rest stays queued (/shell/kill drops it)"
            )
        return record

    def wait(self, record: Record, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self.cond:
            while not record.done:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self.cond.wait(remaining)

    def last(self) -> Record | None:
        return self.current or (self.console[-1] if self.console else None)

    def result(self, record: Record) -> models.ShellCommandResult:
        with self.cond:
            return models.ShellCommandResult(
                id=self.id,
                status="completed" if record.done else "running",
                returncode=record.returncode,
                output=record.output(),
                console=self._console(),
            )

    def view(self) -> models.ShellViewResult:
        with self.cond:
            last = self.last()
            return models.ShellViewResult(id=self.id, output=last.output() if last else "", console=self._console())

    def _console(self) -> list[models.ConsoleRecord]:
        return [models.ConsoleRecord(ps1=r.ps1, command=r.command, output=r.output()) for r in self.console]

    def _on_prompt(self, returncode: int | None, cwd: str) -> None:
        if cwd:
            self.cwd = cwd
        if not self._ready:
            self._ready = True
            return
        record = self.current
        if record is not None and not record.done:
            record.returncode = returncode
            self._close(record)

    def _close(self, record: Record) -> None:
        record.done = True
        if record.timer is not None:
            record.timer.cancel()
        self.current = None
        self.cond.notify_all()

    def _finish_on_death(self) -> None:
        if not self.alive:
            return
        self.alive = False
        record = self.current
        if record is not None and not record.done:
            code = self.proc.returncode
            record.returncode = 128 - code if code is not None and code < 0 else code
            if not record.note:
                record.note = "\n[shell exited]"
            self._close(record)
        self.cond.notify_all()
        for name in os.listdir(self.command_dir):
            if name.startswith(f"{self.id}.{self._nonce}."):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.command_dir, name))

    # --- helpers ------------------------------------------------------------

    def _keep_echo_off(self) -> None:
        # A program that crashed in raw mode may have left echo on; the pty's
        # termios are shared by both ends, so fix them from the master side.
        try:
            attrs = termios.tcgetattr(self.master)
            if attrs[3] & termios.ECHO:
                attrs[3] &= ~termios.ECHO
                termios.tcsetattr(self.master, termios.TCSANOW, attrs)
        except termios.error:
            pass

    def _ps1(self, cwd: str) -> str:
        home = self.settings.home
        shown = cwd
        if home != "/" and (cwd == home or cwd.startswith(home + "/")):
            shown = "~" + cwd[len(home) :]
        return f"{self._user}@{self.settings.hostname}:{shown} $"
