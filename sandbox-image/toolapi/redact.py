"""Redaction of secret values from text: the value itself, its base64 at every alignment, and
either of them broken across lines (``fold``, ``base64`` wrapping at 76 columns).

Pure and dependency-free on purpose: `sandbox-image/toolapi/redact.py` is a byte-identical copy
(the image imports nothing from the Django apps), and a test keeps the two equal.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Shorter values would redact ordinary words; secrets that short are refused at creation.
MIN_SECRET_CHARS = 4
# Past this length a form is matched only unbroken: a regex with a line-break slot between
# every character of a 64 KB value would be huge, and long values are not folded by hand.
MAX_FOLDED_CHARS = 512
_BREAK = r"[\r\n]*"


def _base64_cores(value: bytes) -> list[str]:
    """The base64 characters that depend only on `value`, wherever it starts in the encoded
    stream (offset 0, 1 or 2 in a 3-byte group): the encodings of its whole groups."""
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value).decode("ascii")
        first = -(-offset // 3)  # the first group made only of value bytes
        last = (offset + len(value)) // 3  # groups before this one are complete
        if last > first:
            cores.append(encoded[first * 4 : last * 4])
    return cores


def _form_pattern(form: str) -> str:
    if len(form) > MAX_FOLDED_CHARS:
        return re.escape(form)
    return _BREAK.join(re.escape(char) for char in form)


class Redactor:
    """Replaces every form of every secret with ``[redacted:NAME]``."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        forms: list[tuple[str, str]] = []
        for name, value in secrets.items():
            if len(value) < MIN_SECRET_CHARS:
                continue
            forms.append((value, name))
            forms.extend((core, name) for core in _base64_cores(value.encode("utf-8")) if len(core) >= 8)
        forms.sort(key=lambda item: len(item[0]), reverse=True)
        self._names: list[str] = []
        parts = []
        for index, (form, name) in enumerate(forms):
            self._names.append(name)
            parts.append(f"(?P<s{index}>{_form_pattern(form)})")
        self._pattern = re.compile("|".join(parts)) if parts else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(self._replacement, text)

    def _replacement(self, match: re.Match[str]) -> str:
        index = int((match.lastgroup or "s0")[1:])
        return f"[redacted:{self._names[index]}]"

    def mapping(self, value: Mapping[str, Any]) -> dict[str, Any]:
        return {self.text(str(k)): self.value(v) for k, v in value.items()}

    def value(self, value: Any) -> Any:
        """`value` with every string inside it (dict keys and values, list items) redacted."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def redactor_for(values: Iterable[tuple[str, str]]) -> Redactor:
    return Redactor(dict(values))
