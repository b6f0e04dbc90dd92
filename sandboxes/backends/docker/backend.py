"""`DockerBackend`: a sandbox's life as one container from SANDBOX_IMAGE (create, stop, start,
destroy, status, list, shape, isolation)."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable

from django.conf import settings

from .. import InstanceState, SandboxEndpoint, SandboxShape, SandboxStartError, wait_until_ready
from ..image_build import image_ensure
from .client import (
    LABEL_PREFIX,
    LABEL_SANDBOX,
    TOOL_API_PORT,
    APIError,
    Container,
    DockerException,
    ImageNotFound,
    Network,
    NotFound,
    deployment_labels,
    engine,
    sandbox_network,
)
from .egress import created_proxy, egress_address, proxy_env
from .seal import helper_name, seal

logger = logging.getLogger(__name__)

IMAGE_HOME = "/home/ubuntu"
# Hibernation ends every process of the sandbox but tini and the image's keeper shell
# (anker-hibernate, by `docker exec`), then pauses what is left (two idle processes, well under a
# MiB): the container keeps its files, its address and its sealed network namespace, so a wake is
# an unpause and one `docker exec` of anker-wake (supervisord, then the tool API) — no new
# container start, no new seal. A container that is not there to pause (an image without
# anker-hibernate) is `docker stop`ped instead, and woken with `docker start` and a new seal.
STOP_GRACE_SECONDS = 2
HIBERNATE_COMMAND = "/opt/anker/bin/anker-hibernate"
WAKE_COMMAND = "/opt/anker/bin/anker-wake"
BUILD_HINT = "build it on this host with: SANDBOX_IMAGE={image} sandbox-image/build.sh"


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
                    **proxy_env(proxy),
                },
                mem_limit=settings.SANDBOX_MEMORY_LIMIT,
                nano_cpus=int(settings.SANDBOX_CPUS * 1e9),
                pids_limit=settings.SANDBOX_PIDS_LIMIT,
                shm_size=settings.SANDBOX_SHM_SIZE,
                privileged=False,
                security_opt=["no-new-privileges"],
                cap_drop=["ALL"],  # user 1000 needs none; the firewall is set from outside (seal)
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
            seal(container, proxy)
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

    def destroy(self, sandbox_id: str) -> None:
        # A seal helper whose removal failed (an engine under load) goes with its sandbox.
        with contextlib.suppress(NotFound):
            engine().containers.get(helper_name(self._name(sandbox_id))).remove(force=True)
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
        proxy = created_proxy(env)
        try:
            if container.status in ("paused", "running"):
                if container.status == "paused":
                    container.unpause()
                container.exec_run([WAKE_COMMAND], detach=True)
                endpoint = self._endpoint(container, network, token, proxy=proxy)
            else:
                container.start()
                endpoint = self._endpoint(container, network, token, proxy=proxy, fresh=True)
                seal(container, proxy)
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
