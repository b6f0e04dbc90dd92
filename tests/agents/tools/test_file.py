"""File toolkit against the real tool API: exact model output and UI content, edits with
their old content, searches, truncation notes, and the sandbox's refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings

from agents.tools import REGISTRY, ToolEnv, ToolResult
from sandboxes.tool_api import ToolApiError
from tests.agents.conftest import ToolApiServer

pytestmark = pytest.mark.django_db(transaction=True)


def run(env: ToolEnv, name: str, **args: Any) -> ToolResult:
    tool = REGISTRY[name]
    return tool.run(env, tool.args.model_validate(args))


@pytest.fixture
def folder(sandbox: ToolApiServer, request: pytest.FixtureRequest) -> Path:
    """A directory of its own in the shared sandbox home."""
    path = sandbox.home / f"files-{request.node.name[:40]}"
    path.mkdir(exist_ok=True)
    return path


def test_file_write_creates_a_file_and_shows_its_content(env: ToolEnv, folder: Path) -> None:
    path = str(folder / "notes.md")

    result = run(env, "file_write", file=path, content="# Anchors\n", trailing_newline=True)

    assert result.output == f"wrote 11 bytes to {path}"
    assert result.content == {"file": path, "content": "# Anchors\n"}
    assert (folder / "notes.md").read_text() == "# Anchors\n\n"


def test_file_write_appends(env: ToolEnv, folder: Path) -> None:
    path = folder / "log.txt"
    path.write_text("one\n")

    run(env, "file_write", file=str(path), content="two\n", append=True)

    assert path.read_text() == "one\ntwo\n"


def test_file_read_reads_a_line_range_and_reports_the_total(env: ToolEnv, folder: Path) -> None:
    path = folder / "lines.txt"
    path.write_text("a\nb\nc\nd\n")

    result = run(env, "file_read", file=str(path), start_line=1, end_line=3)

    assert result.output == f"{path} (4 lines)\nb\nc\n"
    assert result.content == {"file": str(path), "content": "b\nc\n"}


def test_a_long_file_is_cut_for_the_model_with_a_note_but_shown_whole(
    env: ToolEnv, folder: Path, settings: Settings
) -> None:
    settings.AGENT_TOOL_OUTPUT_CHARS = 40
    text = "".join(f"line {n:03}\n" for n in range(100))
    path = folder / "long.txt"
    path.write_text(text)

    result = run(env, "file_read", file=str(path))

    note = f"\n[... {len(text) - 40} characters truncated; read a smaller range with start_line/end_line ...]\n"
    assert result.output == f"{path} (100 lines)\n" + text[:20] + note + text[-20:]
    assert result.content == {"file": str(path), "content": text}


def test_file_str_replace_replaces_every_occurrence_and_shows_old_and_new(env: ToolEnv, folder: Path) -> None:
    path = folder / "anchor.txt"
    path.write_text("weight: 12 kg\nmax: 12 kg\n")

    result = run(env, "file_str_replace", file=str(path), old_str="12 kg", new_str="15 kg")

    assert result.output == f"replaced 2 occurrence(s) in {path}"
    assert result.content == {
        "file": str(path),
        "content": "weight: 15 kg\nmax: 15 kg\n",
        "old_content": "weight: 12 kg\nmax: 12 kg\n",
    }
    assert path.read_text() == "weight: 15 kg\nmax: 15 kg\n"


def test_file_find_in_content_lists_matching_lines_with_numbers(env: ToolEnv, folder: Path) -> None:
    path = folder / "catalogue.txt"
    path.write_text("danforth 12\nplough 20\nmushroom 5\ndanforth 30\n")

    found = run(env, "file_find_in_content", file=str(path), regex=r"^danforth \d+")
    nothing = run(env, "file_find_in_content", file=str(path), regex="grapnel")

    assert found.output == "1: danforth 12\n4: danforth 30"
    assert found.content == {"file": str(path), "content": "1: danforth 12\n4: danforth 30"}
    assert nothing.output == "no match"


def test_file_find_by_name_finds_files_by_glob(env: ToolEnv, folder: Path) -> None:
    (folder / "sub").mkdir(exist_ok=True)
    for name in ("a.py", "b.txt", "sub/c.py"):
        (folder / name).write_text("")

    found = run(env, "file_find_by_name", path=str(folder), glob="**/*.py")
    nothing = run(env, "file_find_by_name", path=str(folder), glob="*.rs")

    assert sorted(found.output.splitlines()) == [str(folder / "a.py"), str(folder / "sub" / "c.py")]
    assert found.content["file"] == str(folder)
    assert nothing.output == "no file matches"


def test_a_missing_file_is_the_sandboxs_404(env: ToolEnv, folder: Path) -> None:
    with pytest.raises(ToolApiError) as refused:
        run(env, "file_read", file=str(folder / "missing.txt"))

    assert (refused.value.status, refused.value.message) == (404, f"no such file: {folder / 'missing.txt'}")
