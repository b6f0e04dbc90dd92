"""Fixtures for the test-support servers. Deliberately Django-free."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.llm_server import ScriptedLLM
from tests.support.search_server import ScriptedSearch


@pytest.fixture
def llm() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def search() -> Iterator[ScriptedSearch]:
    with ScriptedSearch() as server:
        yield server
