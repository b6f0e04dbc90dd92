"""The Docker backend: one container per sandbox from SANDBOX_IMAGE. The only module that
imports the `docker` SDK.

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
The engine is DOCKER_HOST (or Docker's default socket).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from docker.client import DockerClient
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.models.networks import Network

from ..egress import SHARED_MAX_CONNECTIONS, EgressProxy
from . import InstanceState, SandboxEndpoint, SandboxShape, SandboxStartError, wait_until_ready
from .image_build import image_ensure

logger = logging.getLogger(__name__)

LABEL_SANDBOX = "anker.sandbox"
LABEL_PREFIX = "anker.prefix"
LABEL_CREATED_BY = "anker.created-by"  # the host name of the process that started it
# A sandbox started by a service of a compose project joins that project as a one-off container of
# its `sandbox-image` service: `docker compose down` removes it with the stack, `up` leaves it be.
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SANDBOX_LABELS = {"com.docker.compose.service": "sandbox-image", "com.docker.compose.oneoff": "True"}
LABEL_NETWORK = "anker.sandbox-network"
TOOL_API_PORT = 8080
IMAGE_HOME = "/home/ubuntu"
ENGINE_TIMEOUT_SECONDS = 30
# Hibernation ends every process of the sandbox but tini and the image's keeper shell
# (anker-hibernate, by `docker exec`), then pauses what is left (two idle processes, well under a
# MiB): the container keeps its files, its address and its sealed network namespace, so a wake is
# an unpause and one `docker exec` of anker-wake (supervisord, then the tool API) — no new
# container start, no new seal. A container that is not there to pause (an image without
# anker-hibernate) is `docker stop`ped instead, and woken with `docker start` and a new seal.
STOP_GRACE_SECONDS = 2
SEAL_COMMAND = "/opt/anker/bin/anker-seal"
HIBERNATE_COMMAND = "/opt/anker/bin/anker-hibernate"
WAKE_COMMAND = "/opt/anker/bin/anker-wake"
BUILD_HINT = "build it on this host with: SANDBOX_IMAGE={image} sandbox-image/build.sh"

_client_lock = threading.Lock()
_client: DockerClient | None = None
_egress_lock = threading.Lock()
_egress: EgressProxy | None = None  # this process's egress proxy, when SANDBOX_EGRESS_PROXY is empty


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


def _gateway(network: Network) -> str:
    try:
        return str(network.attrs["IPAM"]["Config"][0]["Gateway"])
    except (KeyError, IndexError, TypeError) as exc:
        raise SandboxStartError(f"network {network.name} has no IPv4 gateway") from exc


def egress_address(network: Network) -> tuple[str, int] | None:
    """Where this host's sandboxes reach the egress proxy (an IPv4 address and port), or None
    when they get no network (SANDBOX_EGRESS_PROXY=none)."""
    global _egress
    configured = settings.SANDBOX_EGRESS_PROXY
    if configured == "none":
        return None
    if configured:
        host, _, port = configured.rpartition(":")
        try:
            infos = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)
        except (OSError, ValueError) as exc:
            raise SandboxStartError(f"SANDBOX_EGRESS_PROXY {configured!r} does not resolve: {exc}") from exc
        return str(infos[0][4][0]), int(port)
    # Served by this process on the network's gateway: the Docker host's side of the bridge.
    with _egress_lock:
        if _egress is None:
            ports = settings.SANDBOX_EGRESS_CONNECT_PORTS
            try:
                _egress = EgressProxy(
                    tcp_address=(_gateway(network), 0),
                    allow_private=settings.SANDBOX_EGRESS_ALLOW_PRIVATE,
                    connect_ports=None if ports is None else frozenset(ports),
                    max_connections=SHARED_MAX_CONNECTIONS,
                )
            except OSError as exc:
                raise SandboxStartError(
                    f"cannot serve the sandboxes' egress proxy on {_gateway(network)} ({exc}); this worker does "
                    "not run on the Docker host: set SANDBOX_EGRESS_PROXY to the egress-proxy service (host:port)"
                ) from exc
            logger.info("egress proxy for Docker sandboxes on %s:%d", *_egress.address)
        return _egress.address


def _proxy_env(proxy: tuple[str, int] | None) -> dict[str, str]:
    if proxy is None:
        return {}
    url = f"http://{proxy[0]}:{proxy[1]}"
    return {
        "http_proxy": url,
        "https_proxy": url,
        "HTTP_PROXY": url,
        "HTTPS_PROXY": url,
        "no_proxy": "localhost,127.0.0.1,::1",
        "NO_PROXY": "localhost,127.0.0.1,::1",
        # <-loopback>: pages' requests to 127.0.0.1 go to the proxy too, which refuses them.
        "CHROME_EXTRA_FLAGS": f"--proxy-server={url} --proxy-bypass-list=<-loopback>",
    }


def _created_proxy(env: dict[str, str]) -> tuple[str, int] | None:
    """The egress proxy a container was created with (its environment is fixed at create time)."""
    if not env.get("http_proxy"):
        return None
    url = urlsplit(env["http_proxy"])
    return str(url.hostname), int(url.port or 80)


class DockerBackend:
    name = "docker"

    def isolation(self) -> str:
        egress = settings.SANDBOX_EGRESS_PROXY or "this worker's egress proxy"
        return (
            f"docker container ({settings.SANDBOX_IMAGE}): own namespaces and filesystem, unprivileged, "
            f"no-new-privileges, memory {settings.SANDBOX_MEMORY_LIMIT}, {settings.SANDBOX_CPUS} CPUs, "
            f"{settings.SANDBOX_PIDS_LIMIT} pids; network {settings.SANDBOX_NETWORK}, firewalled: in only the "
            f"tool API (token), out only "
            + ("nothing (SANDBOX_EGRESS_PROXY=none)" if egress == "none" else f"{egress} (public addresses)")
        )

    @staticmethod
    def _name(sandbox_id: str) -> str:
        return f"{settings.SANDBOX_NAME_PREFIX}-{sandbox_id}"

    def container(self, sandbox_id: str) -> Container | None:
        """The sandbox's container, if it exists (read-only uses: the benchmarks' memory stats)."""
        return self._find(sandbox_id)

    def _find(self, sandbox_id: str) -> Container | None:
        try:
            return engine().containers.get(self._name(sandbox_id))
        except NotFound:
            return None

    def prepare(self, *, notify: Callable[[str], None] | None = None) -> str:
        """Before a sandbox row is made: build SANDBOX_IMAGE if it is missing (see image_build);
        `notify` tells the waiting user. Returns present, built or waited."""
        return image_ensure(engine(), settings.SANDBOX_IMAGE, notify=notify)

    def create(self, sandbox_id: str) -> SandboxEndpoint:
        image = settings.SANDBOX_IMAGE
        image_ensure(engine(), image)
        network = sandbox_network()
        proxy = egress_address(network)
        token = secrets.token_urlsafe(32)
        try:
            container = engine().containers.create(
                image,
                name=self._name(sandbox_id),
                labels={**deployment_labels(), LABEL_SANDBOX: sandbox_id, LABEL_PREFIX: settings.SANDBOX_NAME_PREFIX},
                environment={
                    "TOOLAPI_TOKEN": token,
                    "TOOLAPI_ROOT": settings.SANDBOX_DOCKER_TOOLAPI_ROOT,
                    **_proxy_env(proxy),
                },
                mem_limit=settings.SANDBOX_MEMORY_LIMIT,
                nano_cpus=int(settings.SANDBOX_CPUS * 1e9),
                pids_limit=settings.SANDBOX_PIDS_LIMIT,
                shm_size=settings.SANDBOX_SHM_SIZE,
                privileged=False,
                security_opt=["no-new-privileges"],
                cap_drop=["ALL"],  # user 1000 needs none; the firewall is set from outside (_seal)
                network=network.name,
            )
            container.start()
        except ImageNotFound as exc:
            self.destroy(sandbox_id)
            raise SandboxStartError(
                f"the sandbox image {image} is not on this Docker host; " + BUILD_HINT.format(image=image)
            ) from exc
        except DockerException as exc:
            self.destroy(sandbox_id)
            raise SandboxStartError(f"docker could not start the sandbox: {exc}") from exc
        try:
            endpoint = self._endpoint(container, network, token, proxy=proxy, fresh=True)
            self._seal(container, proxy)
            wait_until_ready(
                endpoint,
                timeout=settings.SANDBOX_START_TIMEOUT_SECONDS,
                alive=lambda: self.status(sandbox_id) is InstanceState.RUNNING,
            )
        except BaseException:
            self.destroy(sandbox_id)
            raise
        return endpoint

    def _endpoint(
        self, container: Container, network: Network, token: str, *, proxy: tuple[str, int] | None, fresh: bool = False
    ) -> SandboxEndpoint:
        """Where the backend reaches the container: the address the engine gave it on `network`
        (`fresh`: reloaded first, after a start that may have given it a new one)."""
        if fresh:
            container.reload()
        try:
            address = container.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        except (KeyError, TypeError) as exc:
            raise SandboxStartError("the container has no address on the sandbox network (did it exit?)") from exc
        if not address:
            raise SandboxStartError("the container has no address on the sandbox network (did it exit?)")
        base = f"{address}:{TOOL_API_PORT}"
        return SandboxEndpoint(
            tool_api_url=f"http://{base}",
            tool_api_socket=None,
            token=token,
            cdp_url=f"ws://{base}/cdp",
            vnc_ws_url=f"ws://{base}/vnc",
            home=IMAGE_HOME,
            services=("x", "cdp", "vnc") + (("egress",) if proxy is not None else ()),
        )

    def _seal(self, container: Container, proxy: tuple[str, int] | None) -> None:
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

    def stop(self, sandbox_id: str) -> None:
        """Hibernate: end the sandbox's processes (anker-hibernate) and pause the container, whose
        memory is then that of tini and the keeper shell; its files and sealed network stay. An
        image without anker-hibernate gets `docker stop` (its memory freed, its network gone)."""
        container = self._find(sandbox_id)
        if container is None or container.status != "running":
            return  # gone, already paused (a stop that ran before), or stopped
        try:
            code, output = container.exec_run([HIBERNATE_COMMAND])
        except NotFound:
            return
        except APIError as exc:  # e.g. no such file in an older image: stopped the old way below
            code, output = None, str(exc).encode()
        if code == 0:
            with contextlib.suppress(NotFound):
                container.pause()
            return
        logger.info(
            "sandbox %s: anker-hibernate failed (exit %s: %s); docker stop instead",
            sandbox_id,
            code,
            bytes(output or b"").decode(errors="replace").strip()[-200:],
        )
        with contextlib.suppress(NotFound):
            container.stop(timeout=STOP_GRACE_SECONDS)

    def start(self, sandbox_id: str) -> SandboxEndpoint:
        """Wake: a paused container is unpaused and its services started again with `docker exec`
        (same token, address and sealed network; the desktop starts on demand, as in a new
        sandbox). A stopped one (`docker stop` fallback, an engine restart) gets `docker start`
        and, since that makes a new network namespace, a new seal before it is handed out."""
        container = self._find(sandbox_id)
        if container is None:
            raise SandboxStartError("its container is gone")
        env = dict(item.split("=", 1) for item in container.attrs.get("Config", {}).get("Env") or [] if "=" in item)
        token = env.get("TOOLAPI_TOKEN", "")
        if not token:
            raise SandboxStartError("its container has no tool API token")
        network = sandbox_network()
        proxy = _created_proxy(env)
        try:
            if container.status in ("paused", "running"):
                if container.status == "paused":
                    container.unpause()
                container.exec_run([WAKE_COMMAND], detach=True)
                endpoint = self._endpoint(container, network, token, proxy=proxy)
            else:
                container.start()
                endpoint = self._endpoint(container, network, token, proxy=proxy, fresh=True)
                self._seal(container, proxy)
        except DockerException as exc:
            raise SandboxStartError(f"docker could not start the sandbox again: {exc}") from exc
        wait_until_ready(
            endpoint,
            timeout=settings.SANDBOX_START_TIMEOUT_SECONDS,
            alive=lambda: self.status(sandbox_id) is InstanceState.RUNNING,
        )
        return endpoint

    def shape(self) -> SandboxShape | None:
        network = "none" if settings.SANDBOX_EGRESS_PROXY == "none" else "proxy"
        return SandboxShape(home=IMAGE_HOME, has_browser=True, network=network)

    def status(self, sandbox_id: str) -> InstanceState:
        container = self._find(sandbox_id)
        if container is None:
            return InstanceState.MISSING
        # Paused is hibernated: its processes ended before it was paused.
        return InstanceState.RUNNING if container.status == "running" else InstanceState.STOPPED

    def list(self) -> list[str]:
        containers = engine().containers.list(
            all=True, filters={"label": f"{LABEL_PREFIX}={settings.SANDBOX_NAME_PREFIX}"}
        )
        return sorted(str(c.labels.get(LABEL_SANDBOX, "")) for c in containers if c.labels.get(LABEL_SANDBOX))
