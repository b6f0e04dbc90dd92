"""Coalesced token streams: the model's tokens reach readers in frames, not one event per token.

The first token of an answer is published at once (time to first token is what users
feel). After that, tokens gather in a buffer that is published as one `message_delta`
when it reaches `STREAM_FLUSH_CHARS`, or `STREAM_FLUSH_MS` after the previous frame,
whichever comes first; a timer makes the time bound hold even when the model pauses.
`close()` publishes what is left, so the final `message` that follows always comes after
every delta of the answer.

Each frame is an event in the log like any other, so a reader that connects or resumes
mid-answer replays the frames after its last seq, then follows the live ones: the text
it shows is the whole answer so far, each character once. A model streaming 100 tokens a
second becomes at most ~20 stored events a second (at the default 50 ms).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.conf import settings

from sessions.events import MessageDeltaEvent


class TokenStream:
    """Buffers `add(text)` calls into `message_delta` frames published through `publish`."""

    def __init__(
        self,
        publish: Callable[[MessageDeltaEvent], object],
        *,
        flush_ms: float | None = None,
        flush_chars: int | None = None,
    ) -> None:
        self._publish = publish
        self._flush_seconds = (settings.STREAM_FLUSH_MS if flush_ms is None else flush_ms) / 1000
        self._flush_chars = settings.STREAM_FLUSH_CHARS if flush_chars is None else flush_chars
        self._lock = threading.Lock()  # held while a frame is taken and published: frames stay in order
        self._text = ""
        self._started = False
        self._last_flush = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False
        self._error: BaseException | None = None

    def add(self, text: str) -> None:
        if not text:
            return
        self._raise_timer_error()
        with self._lock:
            if self._closed:
                return
            self._text += text
            if not self._started or len(self._text) >= self._flush_chars:
                self._started = True
                self._flush_locked()
            elif time.monotonic() - self._last_flush >= self._flush_seconds:
                self._flush_locked()
            elif self._timer is None:
                delay = max(0.0, self._last_flush + self._flush_seconds - time.monotonic())
                self._timer = threading.Timer(delay, self._on_timer)
                self._timer.daemon = True
                self._timer.start()

    def close(self) -> None:
        """Publish what is buffered and stop the timer; later `add`s are ignored."""
        with self._lock:
            self._closed = True
            self._cancel_timer()
            self._flush_locked()
        self._raise_timer_error()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
            try:
                self._flush_locked()
            except BaseException as exc:  # surfaced on the turn's thread at its next add/close
                self._error = exc

    def _flush_locked(self) -> None:
        self._cancel_timer()
        self._last_flush = time.monotonic()
        if self._text:
            text, self._text = self._text, ""
            self._publish(MessageDeltaEvent(delta=text))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _raise_timer_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
