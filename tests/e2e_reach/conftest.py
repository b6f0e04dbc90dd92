"""The reach flows in the web app run on the e2e stack, with MCP_ALLOW_PRIVATE_TARGETS so the
worker may call the MCP test server on loopback (its own package: the stack is per package)."""

from __future__ import annotations

import os
import secrets

import pytest

from sandboxes.backends.docker import engine_available
from tests.agents.reach.conftest import mcp_http_url  # noqa: F401 - a real MCP server over streamable HTTP
from tests.e2e.conftest import browser, page, stack, test_database_url  # noqa: F401 - the real stack, Chromium


@pytest.fixture(scope="session")
def stack_env(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """tests/e2e's stack environment, plus MCP_ALLOW_PRIVATE_TARGETS."""
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env["PYTHONUNBUFFERED"] = "1"
    env["SANDBOX_BACKEND"] = os.environ.get("ANKER_E2E_BACKEND") or ("docker" if engine_available() else "local")
    env["SANDBOX_NAME_PREFIX"] = f"anker-e2e-{secrets.token_hex(3)}"
    env["SANDBOX_LOCAL_DIR"] = str(tmp_path_factory.mktemp("sandboxes"))
    env["MCP_ALLOW_PRIVATE_TARGETS"] = "true"
    return env
