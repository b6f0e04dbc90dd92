"""Stopping a shell's work: the timeout that kills a command's foreground job, Ctrl-C
(/shell/interrupt: SIGINT, then SIGKILL, then bash itself), killing bash and its session, and
what happens when bash exits. A mixin of `shell.Shell`, which holds the state used here."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from typing import TYPE_CHECKING

from .proctree import session_members, session_tree

if TYPE_CHECKING:
    from .record import Record

log = logging.getLogger("toolapi.shell")

# After a timeout kills the foreground job, how long bash gets to show its prompt.
KILL_GRACE_SECONDS = 3.0


class ShellSignals:
    id: str
    pid: int
    proc: subprocess.Popen[bytes]
    master: int
    cond: threading.Condition
    current: Record | None
    alive: bool
    _waiter: threading.Thread
    _reader: threading.Thread

    def kill(self) -> list[int]:
        """SIGKILL bash and everything in its session or below it."""
        pids = session_tree(self.pid) if self.proc.poll() is None else []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._waiter.join(timeout=10)
        if self._waiter.is_alive():
            log.warning("shell %s: bash pid %d did not die", self.id, self.pid)
        return pids

    def _wait_loop(self) -> None:
        """When bash exits (``exit``, killed), end its jobs like a closed
        terminal would, let the reader drain the last output, and mark the
        shell dead so the next exec starts a fresh one."""
        self.proc.wait()
        for pid in session_members(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # The reader ends once no process holds the pty's slave end any more.
        self._reader.join(timeout=2)
        with self.cond:
            self._finish_on_death()
        log.info("shell %s exited (%s)", self.id, self.proc.returncode)

    def _on_timeout(self, record: Record, timeout: float) -> None:
        with self.cond:
            if record.done:
                return
            record.note = f"\n[command killed: timeout of {timeout:g} s reached]"
            try:
                foreground = os.tcgetpgrp(self.master)
            except OSError:
                foreground = -1
        log.warning("shell %s: command timed out after %g s", self.id, timeout)
        if foreground > 0 and foreground != self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(foreground, signal.SIGKILL)
            self.wait(record, KILL_GRACE_SECONDS)
        if not record.done:
            # bash itself is busy (a builtin loop) or did not come back: kill it all.
            self.kill()

    def interrupt(self, grace: float) -> Record | None:
        """Ctrl-C for the running command: SIGINT to the terminal's foreground process
        group, SIGKILL to it after `grace` seconds, and bash itself as a last resort.
        Returns the interrupted record, or None when no command was running."""
        with self.cond:
            record = self.current
            if record is None or record.done or not self.alive:
                return None
            record.note = "\n[interrupted: the task was stopped]"
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, KILL_GRACE_SECONDS)):
            try:
                foreground = os.tcgetpgrp(self.master)
            except OSError:
                foreground = -1
            # bash runs a builtin loop in its own group: SIGINT interrupts it like ^C does;
            # SIGKILL never goes to bash here (that is the last resort below).
            if foreground > 0 and (sig == signal.SIGINT or foreground != self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(foreground, sig)
            self.wait(record, wait)
            if record.done:
                return record
        self.kill()
        return record
