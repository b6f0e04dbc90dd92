"""Sandbox services, one job a module; imports run lease -> pool -> lifecycle, reaper ->
lifecycle, with no circle inside the package:

- `lifecycle`: create, destroy, mark failed, release a session's sandbox;
- `lease`: acquire (on a thread too), touch, extend, give back;
- `pool`: the warm pool (claim, refill);
- `reaper`: expired leases, vanished instances, orphans.

Every name callers used from the former `sandboxes/services.py` is re-exported here.
"""

from ..handles import Leased, SandboxHandle
from .lease import (
    sandbox_acquire,
    sandbox_acquire_start,
    sandbox_extend_lease,
    sandbox_give_back,
    sandbox_touch,
)
from .lifecycle import (
    SandboxUnavailableError,
    sandbox_create,
    sandbox_destroy,
    sandbox_mark_failed,
    sandbox_release_for_session,
)
from .pool import sandbox_pool_refill
from .reaper import sandboxes_reap

__all__ = [
    "Leased",
    "SandboxHandle",
    "SandboxUnavailableError",
    "sandbox_acquire",
    "sandbox_acquire_start",
    "sandbox_create",
    "sandbox_destroy",
    "sandbox_extend_lease",
    "sandbox_give_back",
    "sandbox_mark_failed",
    "sandbox_pool_refill",
    "sandbox_release_for_session",
    "sandbox_touch",
    "sandboxes_reap",
]
