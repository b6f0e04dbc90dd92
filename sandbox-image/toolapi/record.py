"""One command run in a shell, as its console shows it: shared by the shell and its mixins."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .terminal import OutputBuffer


@dataclass
class Record:
    """One command run in a shell, as shown in its console."""

    ps1: str
    command: str
    buffer: OutputBuffer
    returncode: int | None = None
    done: bool = False
    note: str = ""
    timer: threading.Timer | None = field(default=None, repr=False)

    def output(self) -> str:
        return self.buffer.text(self.note)
