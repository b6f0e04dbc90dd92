"""The Docker engine: the shared client, the labels that mark our containers, the sandbox
network. The only module of the backend that imports the `docker` SDK; the others take what
they need of it (its errors and model types) from here. The engine is DOCKER_HOST (or
Docker's default socket).
"""

from __future__ import annotations

import socket
import threading

from django.conf import settings
from docker.client import DockerClient
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.models.networks import Network

from .. import SandboxStartError

__all__ = [
    "APIError",
    "Container",
    "DockerClient",
    "DockerException",
    "ImageNotFound",
    "Network",
    "NotFound",
]

LABEL_SANDBOX = "anker.sandbox"
LABEL_PREFIX = "anker.prefix"
LABEL_CREATED_BY = "anker.created-by"  # the host name of the process that started it
# A sandbox started by a service of a compose project joins that project as a one-off container of
# its `sandbox-image` service: `docker compose down` removes it with the stack, `up` leaves it be.
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SANDBOX_LABELS = {"com.docker.compose.service": "sandbox-image", "com.docker.compose.oneoff": "True"}
LABEL_NETWORK = "anker.sandbox-network"
TOOL_API_PORT = 8080
ENGINE_TIMEOUT_SECONDS = 30

_client_lock = threading.Lock()
_client: DockerClient | None = None


class DockerUnavailableError(SandboxStartError):
    """No Docker engine answers at DOCKER_HOST."""


def engine() -> DockerClient:
    """A shared client (it is thread-safe); DOCKER_HOST from the environment."""
    global _client
    with _client_lock:
        if _client is None:
            try:
                _client = DockerClient.from_env(timeout=ENGINE_TIMEOUT_SECONDS)
            except DockerException as exc:
                raise DockerUnavailableError(f"no Docker engine answers: {exc}") from exc
        return _client


_deployment: dict[str, str] | None = None


def deployment_labels() -> dict[str, str]:
    """Labels that tie a new sandbox to the deployment that started it (see COMPOSE_SANDBOX_LABELS)."""
    global _deployment
    if _deployment is None:
        host = socket.gethostname()
        labels = {LABEL_CREATED_BY: host}
        try:  # in a container, the host name is the container's id
            project = (engine().containers.get(host).labels or {}).get(COMPOSE_PROJECT)
        except (DockerException, OSError):
            project = None
        if project:
            labels.update({COMPOSE_PROJECT: project, **COMPOSE_SANDBOX_LABELS})
        _deployment = labels
    return _deployment


def engine_available() -> bool:
    try:
        return bool(engine().ping())
    except (DockerException, SandboxStartError, OSError):
        return False


def sandbox_network() -> Network:
    """SANDBOX_NETWORK, created when missing: a bridge that is `internal` (no route out of it)
    with inter-container traffic off. Compose creates its own (internal, see docker-compose.yml)."""
    name = settings.SANDBOX_NETWORK
    try:
        return engine().networks.get(name)
    except NotFound:
        pass
    try:
        return engine().networks.create(
            name,
            driver="bridge",
            internal=True,
            check_duplicate=True,
            options={"com.docker.network.bridge.enable_icc": "false"},
            labels={LABEL_NETWORK: "1"},
        )
    except APIError:  # created by a concurrent worker meanwhile
        return engine().networks.get(name)
