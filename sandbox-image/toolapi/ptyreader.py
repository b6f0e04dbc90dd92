"""The pty reader of a shell: drains bash's terminal output, splits it into command output
and the prompt markers that end a command, and hands each to the shell. A mixin of
`shell.Shell`, which holds the state used here."""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .record import Record

_MARKER_END = b"\x1f\x1f"
_MAX_MARKER_BYTES = 8192


class PtyReader:
    master: int
    cond: threading.Condition
    current: Record | None
    console: deque[Record]
    _pending: bytearray
    _marker_start: bytes
    _ready: bool

    def _read_loop(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every slave fd is closed, bash is gone
                chunk = b""
            if not chunk:
                break
            with self.cond:
                self._pending += chunk
                self._consume()
                self.cond.notify_all()
        with contextlib.suppress(OSError):
            os.close(self.master)

    def _consume(self) -> None:
        """Split the pending bytes into command output and prompt markers."""
        start = self._marker_start
        while self._pending:
            idx = self._pending.find(start)
            if idx < 0:
                keep = _partial_suffix(self._pending, start)
                self._emit(bytes(self._pending[: len(self._pending) - keep]))
                del self._pending[: len(self._pending) - keep]
                return
            self._emit(bytes(self._pending[:idx]))
            del self._pending[:idx]
            end = self._pending.find(_MARKER_END, len(start))
            if end < 0:
                if len(self._pending) > _MAX_MARKER_BYTES:  # not our marker after all
                    self._emit(bytes(self._pending[: len(start)]))
                    del self._pending[: len(start)]
                    continue
                return
            payload = bytes(self._pending[len(start) : end]).decode("utf-8", errors="replace")
            del self._pending[: end + len(_MARKER_END)]
            rc_text, _, cwd = payload.partition(":")
            self._on_prompt(int(rc_text) if rc_text.lstrip("-").isdigit() else None, cwd)

    def _emit(self, data: bytes) -> None:
        if not data or not self._ready:
            return  # output before the first prompt is bash start-up noise
        target = self.current or (self.console[-1] if self.console else None)
        if target is not None:
            target.buffer.append(data)


def _partial_suffix(data: bytearray, marker: bytes) -> int:
    """Length of the longest tail of data that is a head of marker."""
    for size in range(min(len(marker) - 1, len(data)), 0, -1):
        if data.endswith(marker[:size]):
            return size
    return 0
