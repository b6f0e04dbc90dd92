"""The Docker backend: one container per sandbox from SANDBOX_IMAGE. The only module that
imports the `docker` SDK.

Containers are named `<SANDBOX_NAME_PREFIX>-<uuid>` and labelled `anker.sandbox=<uuid>`,
`anker.prefix=<prefix>`; they run unprivileged with no new privileges, under memory, CPU and
pids limits, and publish the tool API (8080), websockify (6080) and CDP (9222) on 127.0.0.1
only, on random host ports. The engine is DOCKER_HOST (or Docker's default socket).
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading

from django.conf import settings
from docker.client import DockerClient
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from . import InstanceState, SandboxEndpoint, SandboxStartError, wait_until_ready

logger = logging.getLogger(__name__)

LABEL_SANDBOX = "anker.sandbox"
LABEL_PREFIX = "anker.prefix"
LABEL_CREATED_BY = "anker.created-by"  # the host name of the process that started it
# A sandbox started by a service of a compose project joins that project as a one-off container of
# its `sandbox-image` service: `docker compose down` removes it with the stack, `up` leaves it be.
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SANDBOX_LABELS = {"com.docker.compose.service": "sandbox-image", "com.docker.compose.oneoff": "True"}
TOOL_API_PORT, VNC_WS_PORT, CDP_PORT = "8080/tcp", "6080/tcp", "9222/tcp"
IMAGE_HOME = "/home/ubuntu"
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


class DockerBackend:
    name = "docker"

    def isolation(self) -> str:
        return (
            f"docker container ({settings.SANDBOX_IMAGE}): own namespaces and filesystem, unprivileged, "
            f"no-new-privileges, memory {settings.SANDBOX_MEMORY_LIMIT}, {settings.SANDBOX_CPUS} CPUs, "
            f"{settings.SANDBOX_PIDS_LIMIT} pids; ports on 127.0.0.1 only"
            + (f"; network {settings.SANDBOX_NETWORK}" if settings.SANDBOX_NETWORK else "")
        )

    @staticmethod
    def _name(sandbox_id: str) -> str:
        return f"{settings.SANDBOX_NAME_PREFIX}-{sandbox_id}"

    def _find(self, sandbox_id: str) -> Container | None:
        try:
            return engine().containers.get(self._name(sandbox_id))
        except NotFound:
            return None

    def create(self, sandbox_id: str) -> SandboxEndpoint:
        token = secrets.token_urlsafe(32)
        network = settings.SANDBOX_NETWORK or None
        try:
            container = engine().containers.run(
                settings.SANDBOX_IMAGE,
                name=self._name(sandbox_id),
                detach=True,
                labels={**deployment_labels(), LABEL_SANDBOX: sandbox_id, LABEL_PREFIX: settings.SANDBOX_NAME_PREFIX},
                environment={"TOOLAPI_TOKEN": token, "TOOLAPI_ROOT": settings.SANDBOX_DOCKER_TOOLAPI_ROOT},
                mem_limit=settings.SANDBOX_MEMORY_LIMIT,
                nano_cpus=int(settings.SANDBOX_CPUS * 1e9),
                pids_limit=settings.SANDBOX_PIDS_LIMIT,
                shm_size=settings.SANDBOX_SHM_SIZE,
                privileged=False,
                security_opt=["no-new-privileges"],
                network=network,
                ports={
                    TOOL_API_PORT: ("127.0.0.1", None),
                    VNC_WS_PORT: ("127.0.0.1", None),
                    CDP_PORT: ("127.0.0.1", None),
                },
            )
        except ImageNotFound as exc:
            self.destroy(sandbox_id)
            raise SandboxStartError(f"image {settings.SANDBOX_IMAGE} is missing: run sandbox-image/build.sh") from exc
        except DockerException as exc:
            self.destroy(sandbox_id)
            raise SandboxStartError(f"docker could not start the sandbox: {exc}") from exc
        try:
            endpoint = self._endpoint(container, token)
            wait_until_ready(
                endpoint,
                timeout=settings.SANDBOX_START_TIMEOUT_SECONDS,
                alive=lambda: self.status(sandbox_id) is InstanceState.RUNNING,
            )
        except BaseException:
            self.destroy(sandbox_id)
            raise
        return endpoint

    def _endpoint(self, container: Container, token: str) -> SandboxEndpoint:
        container.reload()
        net = container.attrs["NetworkSettings"]
        if settings.SANDBOX_NETWORK:
            # Reached over the private network (e.g. the worker runs in the same compose network).
            address = net["Networks"][settings.SANDBOX_NETWORK]["IPAddress"]
            ports = {TOOL_API_PORT: 8080, VNC_WS_PORT: 6080, CDP_PORT: 9222}
        else:
            address = "127.0.0.1"
            try:
                ports = {key: int(net["Ports"][key][0]["HostPort"]) for key in (TOOL_API_PORT, VNC_WS_PORT, CDP_PORT)}
            except (KeyError, TypeError, IndexError) as exc:
                raise SandboxStartError("the container published no ports (did it exit at once?)") from exc
        return SandboxEndpoint(
            tool_api_url=f"http://{address}:{ports[TOOL_API_PORT]}",
            tool_api_socket=None,
            token=token,
            cdp_url=f"http://{address}:{ports[CDP_PORT]}",
            vnc_ws_url=f"ws://{address}:{ports[VNC_WS_PORT]}/websockify",
            home=IMAGE_HOME,
            services=("x", "cdp", "vnc", "net"),
        )

    def destroy(self, sandbox_id: str) -> None:
        container = self._find(sandbox_id)
        if container is None:
            return
        try:
            container.remove(force=True, v=True)
        except NotFound:
            return
        except APIError as exc:
            if "already in progress" not in str(exc):
                raise

    def status(self, sandbox_id: str) -> InstanceState:
        container = self._find(sandbox_id)
        if container is None:
            return InstanceState.MISSING
        return InstanceState.RUNNING if container.status == "running" else InstanceState.STOPPED

    def list(self) -> list[str]:
        containers = engine().containers.list(
            all=True, filters={"label": f"{LABEL_PREFIX}={settings.SANDBOX_NAME_PREFIX}"}
        )
        return sorted(str(c.labels.get(LABEL_SANDBOX, "")) for c in containers if c.labels.get(LABEL_SANDBOX))

    def memory_bytes(self, sandbox_id: str) -> int | None:
        """The container's current memory use (for the benchmark)."""
        container = self._find(sandbox_id)
        if container is None:
            return None
        stats = container.stats(stream=False)
        usage = stats.get("memory_stats", {}).get("usage")
        return int(usage) if usage is not None else None
