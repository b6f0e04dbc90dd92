"""Binary upload and download, streamed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

from .conftest import Api


def test_a_5_mb_binary_round_trips_unchanged(api: Api, work: str) -> None:
    payload = os.urandom(5 * 1024 * 1024) + b"\x00\r\n\xff"
    digest = hashlib.sha256(payload).hexdigest()

    upload = api.client.post("/file/upload", params={"path": f"{work}/bin/blob.bin"}, content=payload)

    assert upload.status_code == 200
    assert upload.json() == {
        "ok": True,
        "data": {"file": f"{work}/bin/blob.bin", "bytes_written": len(payload), "sha256": digest},
    }
    assert api.sh(f"sha256sum < {work}/bin/blob.bin") == f"{digest}  -\n"

    with api.client.stream("GET", "/file/download", params={"path": f"{work}/bin/blob.bin"}) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert response.headers["Content-Length"] == str(len(payload))
        assert response.headers["Content-Disposition"] == 'attachment; filename="blob.bin"'
        received = hashlib.sha256()
        size = 0
        for chunk in response.iter_bytes():
            received.update(chunk)
            size += len(chunk)
    assert (size, received.hexdigest()) == (len(payload), digest)


def test_a_chunked_upload_without_length_works(api: Api, work: str) -> None:
    parts = [os.urandom(100_000) for _ in range(5)]

    def body() -> Iterator[bytes]:
        yield from parts

    response = api.client.post("/file/upload", params={"path": f"{work}/chunked.bin"}, content=body())

    whole = b"".join(parts)
    assert response.status_code == 200
    assert response.json()["data"] == {
        "file": f"{work}/chunked.bin",
        "bytes_written": len(whole),
        "sha256": hashlib.sha256(whole).hexdigest(),
    }
    assert api.client.get("/file/download", params={"path": f"{work}/chunked.bin"}).content == whole


def test_upload_replaces_an_existing_file(api: Api, work: str) -> None:
    api.ok("/file/write", file=f"{work}/f.bin", content="old content that is longer")
    response = api.client.post("/file/upload", params={"path": f"{work}/f.bin"}, content=b"new")
    assert response.status_code == 200
    assert api.client.get("/file/download", params={"path": f"{work}/f.bin"}).content == b"new"
    assert api.sh(f"ls -A {work}") == "f.bin\n"  # no temporary file left behind


def test_an_empty_upload_makes_an_empty_file(api: Api, work: str) -> None:
    response = api.client.post("/file/upload", params={"path": f"{work}/empty"}, content=b"")
    assert response.status_code == 200
    assert response.json()["data"]["bytes_written"] == 0
    download = api.client.get("/file/download", params={"path": f"{work}/empty"})
    assert (download.status_code, download.content, download.headers["Content-Length"]) == (200, b"", "0")


def test_download_of_a_missing_file_is_404_json(api: Api, work: str) -> None:
    response = api.client.get("/file/download", params={"path": f"{work}/nope.bin"})
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": f"no such file: {work}/nope.bin"}


def test_upload_and_download_need_a_path(api: Api) -> None:
    up = api.client.post("/file/upload", content=b"x")
    down = api.client.get("/file/download")
    for response in (up, down):
        assert response.status_code == 422
        assert response.json() == {"ok": False, "error": "query parameter 'path' is required"}
