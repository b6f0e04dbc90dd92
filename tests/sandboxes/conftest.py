"""Sandbox tests run real sandboxes: bubblewrap jails and Docker containers.

Every sandbox of this run gets a private name prefix and workspace directory, so the reaper
tests cannot touch anyone else's, and the session teardown proves none was left behind.
A test marked `docker` skips when no engine answers, except in CI (`CI=true` or `CI=1`), where it fails.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from sandboxes.backends import get_backend
from sandboxes.backends.docker import engine_available
from sandboxes.backends.local import bwrap_path
from tests.support.ci import in_ci

IN_CI = in_ci()


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def sandbox_namespace() -> Iterator[None]:
    old = (settings.SANDBOX_NAME_PREFIX, settings.SANDBOX_LOCAL_DIR)
    workspaces = Path(tempfile.mkdtemp(prefix="anker-sbx-"))
    settings.SANDBOX_NAME_PREFIX = f"anker-test-{secrets.token_hex(4)}"
    settings.SANDBOX_LOCAL_DIR = str(workspaces)
    yield
    leftovers = {"local": get_backend("local").list()}
    if engine_available():
        leftovers["docker"] = get_backend("docker").list()
    for name, ids in leftovers.items():
        for sandbox_id in ids:
            get_backend(name).destroy(sandbox_id)
    settings.SANDBOX_NAME_PREFIX, settings.SANDBOX_LOCAL_DIR = old
    shutil.rmtree(workspaces, ignore_errors=True)
    assert leftovers == {k: [] for k in leftovers}, f"sandboxes left running after the suite: {leftovers}"


@pytest.fixture(autouse=True)
def _requires_engine(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker") and not engine_available():
        _missing("no Docker engine answers (set DOCKER_HOST, e.g. unix:///run/anker-docker.sock)")


@pytest.fixture
def jail() -> None:
    """The local backend's jail is available."""
    if bwrap_path() is None:
        _missing("bubblewrap (bwrap) is not installed")


@pytest.fixture
def local_backend(jail: None, settings: object) -> str:
    """Jails without the desktop: the lifecycle tests need no browser (test_local_desktop does)."""
    settings.SANDBOX_BACKEND = "local"  # type: ignore[attr-defined]
    settings.SANDBOX_LOCAL_DESKTOP = "off"  # type: ignore[attr-defined]
    return "local"


@pytest.fixture
def local_desktop_backend(jail: None, settings: object) -> str:
    """Jails with Xvfb, Chromium and VNC; needs those programs on the host (CI installs them)."""
    from sandboxes.backends.local import desktop_programs

    _, missing = desktop_programs(settings.SANDBOX_LOCAL_PYTHON)  # type: ignore[attr-defined]
    if missing:
        _missing("the local desktop cannot run here; missing: " + ", ".join(missing))
    settings.SANDBOX_BACKEND = "local"  # type: ignore[attr-defined]
    settings.SANDBOX_LOCAL_DESKTOP = "on"  # type: ignore[attr-defined]
    return "local"


@pytest.fixture
def docker_backend(settings: object) -> str:
    settings.SANDBOX_BACKEND = "docker"  # type: ignore[attr-defined]
    return "docker"


@pytest.fixture(autouse=True)
def no_sandbox_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests end by destroying what the DB holds live (the product's own path); then no
    instance may be left, which catches sandboxes the code lost track of."""
    yield
    if "django_db_setup" not in request.fixturenames and not request.node.get_closest_marker("django_db"):
        leftovers = {"local": get_backend("local").list()}
    else:
        from sandboxes.models import LIVE_STATUSES, Sandbox
        from sandboxes.services import sandbox_destroy

        with django_db_blocker_unblocked(request):
            for pk in Sandbox.objects.filter(status__in=LIVE_STATUSES).values_list("pk", flat=True):
                sandbox_destroy(sandbox_id=str(pk))
        leftovers = {"local": get_backend("local").list()}
    if engine_available():
        leftovers["docker"] = get_backend("docker").list()
    for name, ids in leftovers.items():
        for sandbox_id in ids:
            get_backend(name).destroy(sandbox_id)
    assert leftovers == {k: [] for k in leftovers}, f"sandboxes left behind by the test: {leftovers}"


def django_db_blocker_unblocked(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("django_db_blocker").unblock()
