"""What a turn holds: a handle on its session's sandbox, ready or still starting.

A handle made by `sandbox_acquire_start` is pending: the sandbox is acquired on a thread of its
own while the model writes the plan, and the handle already knows the sandbox's shape (home,
browser, network) for the planner's prompt. The first use of the tool API, the CDP URL or the
sandbox's id waits for it (and raises SandboxUnavailableError if it could not be had). A turn
that ends without a plan `abandon`s the handle: what this acquire provisioned for it is given
back (to the pool, or destroyed), so a failed plan costs no sandbox.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from .backends import SandboxShape
from .tool_api import ToolApiClient


@dataclass(frozen=True)
class Leased:
    sandbox_id: str
    tool_api: ToolApiClient
    cdp_url: str | None
    shape: SandboxShape
    replaced: bool = False  # the session's previous sandbox had stopped: its files are gone
    origin: str = "kept"  # kept (the session's own) | pool (claimed by this acquire) | new (created by it)


class SandboxHandle:
    """The agent's sandbox: `tool_api`, `cdp_url`, `sandbox_id` and `replaced` wait for it;
    `home`, `has_browser` and `network` are known at once (predicted until it is there)."""

    def __init__(self, future: Future[Leased], *, shape: SandboxShape) -> None:
        self._future = future
        self._predicted = shape
        self._lock = threading.Lock()
        self._used = False
        self._abandoned = False

    @classmethod
    def ready(cls, leased: Leased) -> SandboxHandle:
        future: Future[Leased] = Future()
        future.set_result(leased)
        return cls(future, shape=leased.shape)

    def result(self) -> Leased:
        """The sandbox, once it is there: whoever asks uses it (an abandoned handle keeps it)."""
        with self._lock:
            self._used = True
        return self._future.result()

    @property
    def used(self) -> bool:
        return self._used

    @property
    def tool_api(self) -> ToolApiClient:
        return self.result().tool_api

    @property
    def cdp_url(self) -> str | None:
        return self.result().cdp_url

    @property
    def sandbox_id(self) -> str:
        return self.result().sandbox_id

    @property
    def replaced(self) -> bool:
        return self.result().replaced

    def _shape(self) -> SandboxShape:
        future = self._future
        if future.done() and future.exception() is None:
            return future.result().shape
        return self._predicted

    @property
    def home(self) -> str:
        return self._shape().home

    @property
    def has_browser(self) -> bool:
        return self._shape().has_browser

    @property
    def network(self) -> str:
        return self._shape().network

    def abandon(self, give_back: Callable[[Leased], None]) -> None:
        """The turn ends without having used the sandbox: `give_back` what this acquire provisioned
        (now, or on the acquiring thread when it is done). A sandbox the turn used, or the
        session's own, is kept."""
        with self._lock:
            if self._used or self._abandoned:
                return
            self._abandoned = True

        def done(future: Future[Leased]) -> None:
            if future.cancelled() or future.exception() is not None:
                return
            leased = future.result()
            if leased.origin != "kept":
                give_back(leased)

        self._future.add_done_callback(done)
