"""Text file endpoints: read, write, str_replace, search, find, list."""

from __future__ import annotations

import time

from .conftest import Api


def test_write_creates_the_file_and_its_parents(api: Api, work: str) -> None:
    data = api.ok("/file/write", file=f"{work}/a/b/new.txt", content="héllo\n")

    assert data == {"file": f"{work}/a/b/new.txt", "bytes_written": 7, "old_content": None}
    assert api.sh(f"cat {work}/a/b/new.txt") == "héllo\n"


def test_write_over_a_file_returns_its_old_content(api: Api, work: str) -> None:
    api.ok("/file/write", file=f"{work}/f.txt", content="old\n")

    data = api.ok("/file/write", file=f"{work}/f.txt", content="new")

    assert data == {"file": f"{work}/f.txt", "bytes_written": 3, "old_content": "old\n"}
    assert api.sh(f"cat {work}/f.txt") == "new"


def test_write_can_append_with_leading_and_trailing_newlines(api: Api, work: str) -> None:
    api.ok("/file/write", file=f"{work}/f.txt", content="one")

    data = api.ok(
        "/file/write", file=f"{work}/f.txt", content="two", append=True, leading_newline=True, trailing_newline=True
    )

    assert data == {"file": f"{work}/f.txt", "bytes_written": 5, "old_content": "one"}
    assert api.ok("/file/read", file=f"{work}/f.txt")["content"] == "one\ntwo\n"


def test_write_to_a_relative_path_lands_in_home(api: Api, home: str, work: str) -> None:
    name = work.rsplit("/", 1)[-1] + "-rel.txt"
    try:
        data = api.ok("/file/write", file=name, content="x")
        assert data["file"] == f"{home}/{name}"
        assert api.sh(f"cat {home}/{name}") == "x"
    finally:
        api.sh(f"rm -f {home}/{name}")


def test_read_returns_a_line_range_and_the_total(api: Api, work: str) -> None:
    api.ok("/file/write", file=f"{work}/f.txt", content="a\nb\nc\nd\n")

    whole = api.ok("/file/read", file=f"{work}/f.txt")
    middle = api.ok("/file/read", file=f"{work}/f.txt", start_line=1, end_line=3)
    tail = api.ok("/file/read", file=f"{work}/f.txt", start_line=3)
    capped = api.ok("/file/read", file=f"{work}/f.txt", max_chars=3)

    assert whole == {"file": f"{work}/f.txt", "content": "a\nb\nc\nd\n", "total_lines": 4, "truncated": False}
    assert middle == {"file": f"{work}/f.txt", "content": "b\nc\n", "total_lines": 4, "truncated": False}
    assert tail == {"file": f"{work}/f.txt", "content": "d\n", "total_lines": 4, "truncated": False}
    assert capped == {"file": f"{work}/f.txt", "content": "a\nb", "total_lines": 4, "truncated": True}


def test_read_of_a_missing_file_is_404_and_of_a_directory_400(api: Api, work: str) -> None:
    missing = api.post("/file/read", file=f"{work}/nope.txt")
    directory = api.post("/file/read", file=work)

    assert missing.status_code == 404
    assert missing.json() == {"ok": False, "error": f"no such file: {work}/nope.txt"}
    assert directory.status_code == 400
    assert directory.json() == {"ok": False, "error": f"{work} is a directory"}


def test_read_with_end_before_start_is_400(api: Api, work: str) -> None:
    api.ok("/file/write", file=f"{work}/f.txt", content="a\n")
    response = api.post("/file/read", file=f"{work}/f.txt", start_line=3, end_line=1)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "end_line 1 is before start_line 3"}


def test_str_replace_replaces_every_occurrence(api: Api, work: str) -> None:
    api.ok("/file/write", file=f"{work}/f.py", content="x = 1\ny = x + x\n")

    data = api.ok("/file/str_replace", file=f"{work}/f.py", old_str="x", new_str="value")

    assert data == {
        "file": f"{work}/f.py",
        "count": 3,
        "old_content": "x = 1\ny = x + x\n",
        "new_content": "value = 1\ny = value + value\n",
    }
    assert api.sh(f"cat {work}/f.py") == "value = 1\ny = value + value\n"


def test_str_replace_without_a_match_is_400_and_leaves_the_file(api: Api, work: str) -> None:
    api.ok("/file/write", file=f"{work}/f.txt", content="keep me")

    response = api.post("/file/str_replace", file=f"{work}/f.txt", old_str="absent", new_str="x")

    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": f"old_str not found in {work}/f.txt"}
    assert api.sh(f"cat {work}/f.txt") == "keep me"


def test_search_returns_matching_lines_with_numbers(api: Api, work: str) -> None:
    api.ok("/file/write", file=f"{work}/f.txt", content="alpha\nbeta\ngamma\nalphabet\n")

    data = api.ok("/file/search", file=f"{work}/f.txt", regex=r"^alpha")

    assert data == {
        "file": f"{work}/f.txt",
        "matches": [{"line_number": 1, "line": "alpha"}, {"line_number": 4, "line": "alphabet"}],
        "truncated": False,
    }


def test_search_with_a_bad_regex_is_400(api: Api, work: str) -> None:
    api.ok("/file/write", file=f"{work}/f.txt", content="a")
    response = api.post("/file/search", file=f"{work}/f.txt", regex="(")
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "invalid regex: missing ), unterminated subpattern at position 0"}


def test_find_globs_recursively(api: Api, work: str) -> None:
    for name in ("a.py", "b.txt", "pkg/c.py", "pkg/deep/d.py"):
        api.ok("/file/write", file=f"{work}/{name}", content="")

    deep = api.ok("/file/find", path=work, glob="**/*.py")
    flat = api.ok("/file/find", path=work, glob="*.py")

    assert deep == {
        "path": work,
        "files": [f"{work}/a.py", f"{work}/pkg/c.py", f"{work}/pkg/deep/d.py"],
        "truncated": False,
    }
    assert flat == {"path": work, "files": [f"{work}/a.py"], "truncated": False}


def test_find_refuses_a_glob_that_climbs_out(api: Api, work: str) -> None:
    response = api.post("/file/find", path=work, glob="../*")
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "glob must be relative to path and must not contain '..'"}


def test_list_describes_each_entry(api: Api, work: str) -> None:
    api.ok("/file/write", file=f"{work}/file.txt", content="12345")
    api.sh(f"mkdir {work}/dir && ln -s file.txt {work}/link")
    before = time.time()

    data = api.ok("/file/list", path=work)

    assert data["path"] == work
    assert data["truncated"] is False
    assert [(e["name"], e["type"]) for e in data["entries"]] == [
        ("dir", "dir"),
        ("file.txt", "file"),
        ("link", "symlink"),
    ]
    assert data["entries"][1]["size"] == 5
    assert all(abs(e["mtime"] - before) < 600 for e in data["entries"])


def test_list_of_a_missing_directory_is_404(api: Api, work: str) -> None:
    response = api.post("/file/list", path=f"{work}/nope")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": f"no such directory: {work}/nope"}
