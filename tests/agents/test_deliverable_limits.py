"""Files the agent delivers are streamed into the store with the size cap enforced as they are read."""

from __future__ import annotations

import os
import tracemalloc
from dataclasses import dataclass
from typing import Any

import pytest

from agents.attachments import ChunkReader, sandbox_files_to_store
from agents.tools.base import ToolFailedError
from anker_project.mongo import get_db
from sandboxes.tool_api import ToolApiClient
from sessions.files import FileTooLargeError, file_store
from tests.agents.conftest import ToolApiServer

MIB = 1024 * 1024


@dataclass
class Handle:
    sandbox_id: str
    tool_api: ToolApiClient
    cdp_url: str | None
    home: str


@pytest.fixture
def handle(toolapi_server: ToolApiServer) -> Any:
    with ToolApiClient(toolapi_server.url, toolapi_server.token) as client:
        yield Handle("test", client, None, str(toolapi_server.home))


def stored_names(session_id: str) -> list[str]:
    return [doc["filename"] for doc in get_db()["files.files"].find({"metadata.session_id": session_id})]


@pytest.mark.django_db
def test_a_100_gb_sparse_deliverable_is_refused_without_being_read_into_memory(
    handle: Handle, toolapi_server: ToolApiServer, alice: Any, settings: Any
) -> None:
    settings.FILE_UPLOAD_MAX_BYTES = 4 * MIB
    huge = toolapi_server.home / "huge.bin"
    with huge.open("wb") as fh:
        fh.truncate(100 * 1024**3)  # sparse: no disk used, 100 GB to read
    try:
        tracemalloc.start()
        with pytest.raises(ToolFailedError) as refused:
            sandbox_files_to_store(sandbox=handle, owner_id=alice.pk, session_id="s-huge", paths=[str(huge)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        os.unlink(huge)

    assert str(refused.value) == f"attachment '{huge}' is larger than the {4 * MIB} byte limit: deliver a smaller file"
    assert peak < 32 * MIB
    assert stored_names("s-huge") == []


@pytest.mark.django_db
def test_a_deliverable_whose_size_is_not_announced_is_cut_off_at_the_cap(
    handle: Handle, toolapi_server: ToolApiServer, alice: Any, settings: Any
) -> None:
    """The cap holds while reading even when the sandbox does not say the size up front (a
    sandbox is not trusted to tell the truth): the same streamed path, without Content-Length."""
    settings.FILE_UPLOAD_MAX_BYTES = 1 * MIB
    big = toolapi_server.home / "big.bin"
    big.write_bytes(b"x" * (2 * MIB))
    chunks = handle.tool_api.file_download(path=str(big))  # no max_bytes: nothing refused up front
    with pytest.raises(FileTooLargeError):
        file_store(owner_id=alice.pk, filename="big.bin", data=ChunkReader(chunks), session_id="s-big", max_bytes=MIB)

    assert stored_names("s-big") == []


@pytest.mark.django_db
def test_a_deliverable_under_the_cap_is_stored_whole(
    handle: Handle, toolapi_server: ToolApiServer, alice: Any, settings: Any
) -> None:
    settings.FILE_UPLOAD_MAX_BYTES = 4 * MIB
    report = toolapi_server.home / "report.csv"
    report.write_bytes(b"a,b\n" * (MIB // 4))

    (info,) = sandbox_files_to_store(sandbox=handle, owner_id=alice.pk, session_id="s-ok", paths=[str(report)])

    assert (info.filename, info.size) == ("report.csv", MIB)
    assert stored_names("s-ok") == ["report.csv"]
