"""The sandbox image built on first use, against the real Docker engine: a missing
SANDBOX_IMAGE is built from sandbox-image/ by the first acquire (one build across concurrent
acquires, a Redis lock), and each waiting session is told in a `status` note."""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from docker.errors import ImageNotFound

from sandboxes.backends.docker import engine
from sandboxes.services import SandboxHandle, sandbox_acquire, sandbox_release_for_session
from sessions import eventlog
from tests.sandboxes.test_lifecycle import new_session

pytestmark = [pytest.mark.docker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def missing_image(docker_backend: str, settings: Any) -> Iterator[str]:
    """A SANDBOX_IMAGE tag of our own that does not exist yet; removed afterwards."""
    tag = f"{settings.SANDBOX_NAME_PREFIX}-image:build-{secrets.token_hex(4)}"
    with pytest.raises(ImageNotFound):
        engine().images.get(tag)
    settings.SANDBOX_IMAGE = tag
    yield tag
    with contextlib.suppress(ImageNotFound):
        engine().images.remove(tag)


def _notes(session_id: str) -> list[str]:
    return [e.get("note", "") for e in eventlog.events_of_types(session_id, ("status",), limit=50) if e.get("note")]


def test_concurrent_first_acquires_build_the_missing_image_once_and_both_get_a_sandbox(
    missing_image: str, alice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = [str(new_session(alice).id), str(new_session(alice).id)]
    handles: dict[str, SandboxHandle] = {}
    errors: list[BaseException] = []
    together = threading.Barrier(2)

    def acquire(session_id: str) -> None:
        try:
            together.wait()
            handles[session_id] = sandbox_acquire(session_id=session_id)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    caplog.set_level(logging.INFO, logger="sandboxes.backends.image_build")
    threads = [threading.Thread(target=acquire, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=settings.SANDBOX_IMAGE_BUILD_TIMEOUT_SECONDS)
    try:
        assert errors == []
        assert engine().images.get(missing_image) is not None
        messages = [r.getMessage() for r in caplog.records]
        assert sum(m.startswith("building the sandbox image ") for m in messages) == 1  # one build, not two
        assert sum(m.endswith("was built by another worker") for m in messages) == 1
        assert any(m.startswith("sandbox image build: Step ") for m in messages)  # progress in the log
        for session_id in sessions:
            (note,) = _notes(session_id)
            assert note.startswith("Preparing the computer: building the sandbox image") and missing_image in note
            out = handles[session_id].tool_api.shell_exec(id="w", command="echo built")["output"]
            assert out.strip() == "built"
    finally:
        for session_id in sessions:
            sandbox_release_for_session(session_id=session_id)


def test_a_present_image_is_not_built_and_says_nothing(docker_backend: str, alice: Any, settings: Any) -> None:
    from sandboxes.backends.docker import DockerBackend

    notes: list[str] = []
    assert DockerBackend().prepare(notify=notes.append) == "present"
    assert notes == []


def test_without_autobuild_a_missing_image_is_a_clear_error(missing_image: str, alice: Any, settings: Any) -> None:
    from sandboxes.services import SandboxUnavailableError

    settings.SANDBOX_IMAGE_AUTOBUILD = False
    session_id = str(new_session(alice).id)
    with pytest.raises(SandboxUnavailableError, match=r"sandbox-image/build\.sh"):
        sandbox_acquire(session_id=session_id)
    assert _notes(session_id) == []


def test_a_missing_base_image_is_a_clear_error_and_builds_nothing(
    missing_image: str, alice: Any, settings: Any
) -> None:
    from sandboxes.services import SandboxUnavailableError

    settings.SANDBOX_BASE_IMAGE = f"{settings.SANDBOX_NAME_PREFIX}-no-such-base:{secrets.token_hex(4)}"
    with pytest.raises(SandboxUnavailableError, match="its base image"):
        sandbox_acquire(session_id=str(new_session(alice).id))
    with pytest.raises(ImageNotFound):
        engine().images.get(missing_image)
