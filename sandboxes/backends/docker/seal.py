"""The seal: `anker-seal`, run by a one-shot helper container that joins the sandbox's network
namespace as root with NET_ADMIN, firewalls it: in, only the tool API's port; out, only the
egress proxy."""

from __future__ import annotations

import contextlib

from django.conf import settings

from .. import SandboxStartError
from .client import ENGINE_TIMEOUT_SECONDS, LABEL_PREFIX, TOOL_API_PORT, Container, DockerException, engine

SEAL_COMMAND = "/opt/anker/bin/anker-seal"


def seal(container: Container, proxy: tuple[str, int] | None) -> None:
    """Firewall the container's network namespace from a one-shot helper that joins it as
    root with NET_ADMIN (the sandbox itself holds no capability, so nothing in it can undo
    the rules). A sandbox that cannot be sealed is never used."""
    ip, port = proxy if proxy is not None else ("none", 0)
    helper: Container | None = None
    try:
        helper = engine().containers.run(
            settings.SANDBOX_IMAGE,
            name=f"{container.name}-seal",
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
            with contextlib.suppress(DockerException):
                helper.remove(force=True)
    if code != 0:
        raise SandboxStartError(f"could not seal the sandbox's network (exit {code}): {output}")
