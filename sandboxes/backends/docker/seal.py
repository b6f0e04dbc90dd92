"""The seal: `anker-seal`, run by a one-shot helper container that joins the sandbox's network
namespace as root with NET_ADMIN, firewalls it: in, only the tool API's port; out, only the
egress proxy."""

from __future__ import annotations

import contextlib
import logging

from django.conf import settings

from .. import SandboxStartError
from .client import (
    ENGINE_TIMEOUT_SECONDS,
    LABEL_PREFIX,
    TOOL_API_PORT,
    Container,
    DockerException,
    NotFound,
    engine,
)

logger = logging.getLogger(__name__)

SEAL_COMMAND = "/opt/anker/bin/anker-seal"


def helper_name(container_name: str) -> str:
    """The seal helper's name: the sandbox container's, so its destroy can find a helper left over."""
    return f"{container_name}-seal"


def seal(container: Container, proxy: tuple[str, int] | None) -> None:
    """Firewall the container's network namespace from a one-shot helper that joins it as
    root with NET_ADMIN (the sandbox itself holds no capability, so nothing in it can undo
    the rules). A sandbox that cannot be sealed is never used."""
    ip, port = proxy if proxy is not None else ("none", 0)
    helper: Container | None = None
    try:
        with contextlib.suppress(NotFound):  # one left over from an earlier seal would take the name
            engine().containers.get(helper_name(container.name)).remove(force=True)
        helper = engine().containers.run(
            settings.SANDBOX_IMAGE,
            name=helper_name(container.name),
            entrypoint=[SEAL_COMMAND],
            command=[ip, str(port), str(TOOL_API_PORT)],
            user="0",
            network_mode=f"container:{container.id}",
            cap_drop=["ALL"],
            cap_add=["NET_ADMIN"],
            security_opt=["no-new-privileges"],
            labels={LABEL_PREFIX: settings.SANDBOX_NAME_PREFIX},
            detach=True,
        )
        code = int(helper.wait(timeout=ENGINE_TIMEOUT_SECONDS).get("StatusCode", -1))
        output = helper.logs().decode(errors="replace").strip()[-300:]
    except (DockerException, OSError) as exc:
        raise SandboxStartError(f"could not seal the sandbox's network: {exc}") from exc
    finally:
        if helper is not None:
            try:
                helper.remove(force=True)
            except DockerException as exc:  # the sandbox's destroy removes it (`helper_name`)
                logger.warning("could not remove the seal helper %s: %s", helper.name, exc)
    if code != 0:
        raise SandboxStartError(f"could not seal the sandbox's network (exit {code}): {output}")
