"""The Docker backend: one container per sandbox from SANDBOX_IMAGE.

Containers are named `<SANDBOX_NAME_PREFIX>-<uuid>` and labelled `anker.sandbox=<uuid>`,
`anker.prefix=<prefix>`; they run unprivileged with no new privileges, under memory, CPU and
pids limits, on SANDBOX_NETWORK (created `internal`, with inter-container traffic off, when
it does not exist). Nothing is published: the backend reaches the tool API (the one port that
listens, bearer token on every request; CDP and VNC through its /cdp and /vnc relays) at the
container's address on that network, the address the engine gave it, never one the sandbox
reports. Before the sandbox is handed out, `anker-seal`, run by a one-shot helper container
that joins its network namespace as root with NET_ADMIN, firewalls it: in, only the tool API's
port; out, only the egress proxy (SANDBOX_EGRESS_PROXY, which applies the same public-address
policy as the local backend's). The sandbox itself holds no capability at all.

One job a module, imports running one way from `backend` down: `backend` (`DockerBackend`),
`seal` (the firewall helper), `egress` (the egress proxy's address, the proxy environment),
`client` (the engine client, labels, network: the only module that imports the `docker` SDK).
The engine is DOCKER_HOST (or Docker's default socket).
"""

from .backend import DockerBackend
from .client import (
    LABEL_PREFIX,
    LABEL_SANDBOX,
    DockerUnavailableError,
    deployment_labels,
    engine,
    engine_available,
    sandbox_network,
)
from .egress import egress_address

__all__ = [
    "LABEL_PREFIX",
    "LABEL_SANDBOX",
    "DockerBackend",
    "DockerUnavailableError",
    "deployment_labels",
    "egress_address",
    "engine",
    "engine_available",
    "sandbox_network",
]
