"""The sandbox image, built on first use: when SANDBOX_IMAGE is not on the Docker host, the
first sandbox request builds it from `sandbox-image/` instead of failing.

One build at a time across every worker: a Redis lock per image tag. Whoever waits for the lock
looks again once it has it, so a second worker uses the first one's image instead of building
another. The build runs FROM SANDBOX_BASE_IMAGE (no registry is assumed: `sandbox-image/build.sh`
makes the local `anker-base:bookworm`) with the host's CA bundle in `certs/`, as build.sh does,
so both share Docker's layer cache. Progress goes to the worker log; `notify` tells the waiting
user in a sentence.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from docker.client import DockerClient
from docker.errors import DockerException, ImageNotFound

from anker_project.redis_client import get_redis

from . import SandboxStartError

logger = logging.getLogger(__name__)

BUILDING_NOTE = "Preparing the computer: building the sandbox image {image} (first run only; this can take minutes)."


def _present(client: DockerClient, image: str) -> bool:
    try:
        client.images.get(image)  # never pull: no registry has it, and a pull can hang
    except ImageNotFound:
        return False
    except DockerException as exc:
        raise SandboxStartError(f"docker could not look up the sandbox image: {exc}") from exc
    return True


def _context(into: Path) -> Path:
    """A copy of sandbox-image/ with the host's CA bundle in certs/ (the source tree stays as it is)."""
    source = Path(settings.SANDBOX_IMAGE_CONTEXT)
    if not (source / "Dockerfile").is_file():
        raise SandboxStartError(f"the sandbox image's build context {source} has no Dockerfile")
    context = into / "sandbox-image"
    shutil.copytree(source, context, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    bundle = Path(settings.SANDBOX_BUILD_CA_BUNDLE) if settings.SANDBOX_BUILD_CA_BUNDLE else None
    if bundle is not None and bundle.is_file() and bundle.stat().st_size:
        (context / "certs").mkdir(exist_ok=True)
        shutil.copyfile(bundle, context / "certs" / "host-ca-bundle.crt")
    return context


def _build(client: DockerClient, image: str) -> None:
    base = settings.SANDBOX_BASE_IMAGE
    if not _present(client, base):
        raise SandboxStartError(
            f"the sandbox image {image} is missing and so is its base image {base}; "
            f"make it with sandbox-image/build.sh (or set SANDBOX_BASE_IMAGE)"
        )
    logger.info("building the sandbox image %s from %s (FROM %s)", image, settings.SANDBOX_IMAGE_CONTEXT, base)
    with tempfile.TemporaryDirectory(prefix="anker-sandbox-image-") as tmp:
        context = _context(Path(tmp))
        try:
            stream = client.api.build(
                path=str(context),
                tag=image,
                buildargs={"BASE_IMAGE": base},
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                timeout=settings.SANDBOX_IMAGE_BUILD_TIMEOUT_SECONDS,
            )
            for chunk in stream:
                if "error" in chunk:
                    raise SandboxStartError(f"building the sandbox image {image} failed: {chunk['error'].strip()}")
                line = str(chunk.get("stream", "")).strip()
                if line:
                    logger.info("sandbox image build: %s", line)
        except DockerException as exc:
            raise SandboxStartError(f"building the sandbox image {image} failed: {exc}") from exc
    if not _present(client, image):
        raise SandboxStartError(f"building the sandbox image {image} ended without the image")
    logger.info("built the sandbox image %s", image)


def image_ensure(client: DockerClient, image: str, *, notify: Callable[[str], None] | None = None) -> str:
    """Make sure `image` is on the Docker host. Returns `present` (nothing to do), `built` (this
    call built it) or `waited` (another worker built it meanwhile). Raises SandboxStartError
    when it is missing and cannot be built (SANDBOX_IMAGE_AUTOBUILD off, no base image, a
    failed build, the lock not free within SANDBOX_IMAGE_BUILD_TIMEOUT_SECONDS)."""
    if _present(client, image):
        return "present"
    if not settings.SANDBOX_IMAGE_AUTOBUILD:
        raise SandboxStartError(
            f"the sandbox image {image} is not on this Docker host; "
            f"build it on this host with: SANDBOX_IMAGE={image} sandbox-image/build.sh"
        )
    if notify is not None:
        notify(BUILDING_NOTE.format(image=image))
    timeout = settings.SANDBOX_IMAGE_BUILD_TIMEOUT_SECONDS
    lock = get_redis().lock(f"anker:sandbox-image:build:{image}", timeout=timeout + 60, blocking_timeout=timeout)
    if not lock.acquire():
        raise SandboxStartError(f"the sandbox image {image} is still being built by another worker; try again")
    try:
        if _present(client, image):  # built by the worker that held the lock before us
            logger.info("the sandbox image %s was built by another worker", image)
            return "waited"
        _build(client, image)
        return "built"
    finally:
        lock.release()
