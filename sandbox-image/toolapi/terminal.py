"""Turning raw terminal bytes into readable text, with a size cap."""

from __future__ import annotations

import re

_ANSI = re.compile(
    r"""
    \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?   # OSC ... BEL or ST
  | \x1b[P^_X][^\x1b]*(?:\x1b\\)?        # DCS / PM / APC / SOS ... ST
  | \x1b\[[0-?]*[ -/]*[@-~]              # CSI (colours, cursor moves, ...)
  | \x1b[ -/]+[0-~]                      # nF, e.g. ESC ( B
  | \x1b[0-~]                            # two-byte Fp/Fe/Fs
    """,
    re.VERBOSE,
)
# Control characters left after the escapes are gone, except \t and \n.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean(text: str) -> str:
    """Strip ANSI escapes and apply carriage returns the way a terminal would
    (``"10%\\r20%"`` shows as ``"20%"``)."""
    text = _ANSI.sub("", text)
    text = text.replace("\r\n", "\n")
    if "\r" in text:
        text = "\n".join(_overstrike(line) for line in text.split("\n"))
    return _CONTROL.sub("", text)


def _overstrike(line: str) -> str:
    if "\r" not in line:
        return line
    shown = ""
    for segment in line.split("\r"):
        shown = segment + shown[len(segment) :]
    return shown


class OutputBuffer:
    """Keeps the last ``cap`` bytes of a stream and counts what it dropped."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._data = bytearray()
        self.dropped = 0

    def append(self, chunk: bytes) -> None:
        self._data += chunk
        # Trim lazily (at twice the cap) so appends stay amortised O(1).
        if len(self._data) > 2 * self.cap:
            self._trim()

    def _trim(self) -> None:
        excess = len(self._data) - self.cap
        if excess > 0:
            del self._data[:excess]
            self.dropped += excess

    def text(self, note: str = "") -> str:
        self._trim()
        data = bytes(self._data)
        prefix = ""
        if self.dropped:
            # Do not start in the middle of a UTF-8 sequence.
            skip = 0
            while skip < min(3, len(data)) and 0x80 <= data[skip] < 0xC0:
                skip += 1
            data = data[skip:]
            prefix = f"[... {self.dropped + skip} bytes truncated ...]\n"
        return prefix + clean(data.decode("utf-8", errors="replace")) + note
