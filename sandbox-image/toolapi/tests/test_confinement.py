"""Every path must resolve (realpath) inside TOOLAPI_ROOT: tricks are 403 and
nothing is read or written outside."""

from __future__ import annotations

import pytest

from .conftest import Api


def escapes(work: str, outside: str) -> list[str]:
    depth = work.count("/")
    return [
        f"{outside}/evil.txt",  # absolute, outside
        f"{work}/{'../' * depth}{outside.lstrip('/')}/evil.txt",  # climbing with ../
        f"{work}/link-out/evil.txt",  # through a symlink to a directory outside
        f"{work}/file-link",  # a symlink to a file outside
    ]


@pytest.fixture
def trap(api: Api, work: str, outside: str) -> tuple[str, str]:
    api.sh(f"printf secret > {outside}/evil.txt && ln -s {outside} {work}/link-out "
           f"&& ln -s {outside}/evil.txt {work}/file-link")  # fmt: skip
    return work, outside


def assert_forbidden(response, path: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["ok"] is False
    assert body["error"].startswith(f"path {path!r} is outside the sandbox root ")


def assert_outside_untouched(api: Api, outside: str) -> None:
    assert api.sh(f"ls -A {outside}") == "evil.txt\n"
    assert api.sh(f"cat {outside}/evil.txt") == "secret"


@pytest.mark.parametrize("case", range(4))
def test_writes_that_escape_the_root_are_403_and_write_nothing(api: Api, trap: tuple[str, str], case: int) -> None:
    work, outside = trap
    path = escapes(work, outside)[case]

    responses = [
        api.post("/file/write", file=path, content="pwned"),
        api.post("/file/write", file=path, content="pwned", append=True),
        api.post("/file/str_replace", file=path, old_str="secret", new_str="pwned"),
        api.client.post("/file/upload", params={"path": path}, content=b"pwned"),
    ]

    for response in responses:
        assert_forbidden(response, path)
    assert_outside_untouched(api, outside)


@pytest.mark.parametrize("case", range(4))
def test_reads_that_escape_the_root_are_403(api: Api, trap: tuple[str, str], case: int) -> None:
    work, outside = trap
    path = escapes(work, outside)[case]

    responses = [
        api.post("/file/read", file=path),
        api.post("/file/search", file=path, regex="secret"),
        api.client.get("/file/download", params={"path": path}),
    ]

    for response in responses:
        assert_forbidden(response, path)
        assert "secret" not in response.text


def test_directories_outside_the_root_cannot_be_listed_searched_or_used(
    api: Api, trap: tuple[str, str], shell_id: str
) -> None:
    work, outside = trap
    link = f"{work}/link-out"

    for path in (outside, link, f"{work}/../../../../../../{outside.lstrip('/')}"):
        assert_forbidden(api.post("/file/list", path=path), path)
        assert_forbidden(api.post("/file/find", path=path, glob="*"), path)
        assert_forbidden(api.post("/shell/exec", id=shell_id, exec_dir=path, command="touch ran"), path)
    assert api.post("/shell/view", id=shell_id).status_code == 404  # no shell was even started
    assert_outside_untouched(api, outside)


def test_find_leaves_out_symlinks_that_point_outside(api: Api, trap: tuple[str, str]) -> None:
    work, _ = trap
    api.ok("/file/write", file=f"{work}/inside.txt", content="")

    data = api.ok("/file/find", path=work, glob="**/*.txt")

    assert data["files"] == [f"{work}/inside.txt"]


def test_a_symlink_that_stays_inside_the_root_is_fine(api: Api, work: str) -> None:
    api.ok("/file/write", file=f"{work}/real/target.txt", content="in")
    api.sh(f"ln -s real {work}/alias")

    data = api.ok("/file/write", file=f"{work}/alias/target.txt", content="changed")

    assert data["file"] == f"{work}/real/target.txt"
    assert api.sh(f"cat {work}/real/target.txt") == "changed"
