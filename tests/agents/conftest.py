"""Agent tests run against real parts: the sandbox's tool API (sandbox-image/toolapi) started
here, Debian's Chromium over CDP, a local web page, the scripted model and scripted search."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from anker_project.redis_client import get_redis
from tests.bootstrap import free_port
from tests.support.ci import in_ci
from tests.support.search_server import ScriptedSearch
from tests.support.static_site import serve_directory
from tests.support.toolapi import start_toolapi

CHROMIUM = "/usr/bin/chromium"


class ToolApiServer:
    def __init__(self, url: str, token: str, home: Path) -> None:
        self.url, self.token, self.home = url, token, home


@pytest.fixture(scope="session")
def toolapi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolApiServer]:
    started = start_toolapi(tmp_path_factory.mktemp("sandbox-root"))
    try:
        yield ToolApiServer(started.url, started.token, started.home)
    finally:
        started.stop()


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's Chromium, headless, with CDP on a free loopback port. Yields the CDP URL."""
    if not Path(CHROMIUM).exists():
        if in_ci():
            pytest.fail(f"{CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is not installed")
    port = free_port()
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--remote-debugging-address=127.0.0.1",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={profile}",
            "--window-size=1280,800",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/json/version", timeout=1)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("chromium did not start") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


PAGE = """<!doctype html>
<html><head><title>Anker test shop</title></head>
<body>
<h1>Anchor catalogue</h1>
<p>Three anchors are in stock.</p>
<a href="/details.html">Show details</a>
<button onclick="document.getElementById('out').textContent='Button pressed'">Press me</button>
<input name="q" placeholder="Search anchors">
<select name="size"><option>small</option><option>large</option></select>
<p id="out"></p>
</body></html>
"""
DETAILS = """<!doctype html><html><head><title>Anchor details</title></head>
<body><h1>Details</h1><p>The Danforth anchor weighs 12 kg.</p></body></html>"""


@pytest.fixture(scope="session")
def web_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local site: /index.html (a link, a button, an input, a select) and /details.html."""
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text(PAGE)
    (root / "details.html").write_text(DETAILS)
    with serve_directory(root) as url:
        yield url


@pytest.fixture
def sandbox(toolapi_server: ToolApiServer, settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch) -> ToolApiServer:
    """Turns of this test get their sandbox from the `attached` backend, through the real
    acquire/lease code, on the test tool API (no browser unless `browser_sandbox`)."""
    settings.SANDBOX_BACKEND = "attached"
    monkeypatch.setenv("SANDBOX_BACKEND", "attached")  # for worker subprocesses
    monkeypatch.setenv("SANDBOX_ATTACHED_TOOLAPI_URL", toolapi_server.url)
    monkeypatch.setenv("SANDBOX_ATTACHED_TOKEN", toolapi_server.token)
    monkeypatch.setenv("SANDBOX_ATTACHED_HOME", str(toolapi_server.home))
    monkeypatch.setenv("SANDBOX_ATTACHED_CDP_URL", "")
    settings.SEARCH_PROVIDER = ""
    settings.GOOGLE_SEARCH_API_KEY = ""
    return toolapi_server


@pytest.fixture
def browser_sandbox(sandbox: ToolApiServer, chromium: str, monkeypatch: pytest.MonkeyPatch) -> ToolApiServer:
    monkeypatch.setenv("SANDBOX_ATTACHED_CDP_URL", chromium)
    return sandbox


@pytest.fixture(scope="session")
def search_server() -> Iterator[ScriptedSearch]:
    server = ScriptedSearch().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def search(search_server: ScriptedSearch, settings: SettingsWrapper) -> Iterator[ScriptedSearch]:
    """Web search through the scripted Google endpoint."""
    search_server.reset()
    settings.SEARCH_PROVIDER = "google"
    settings.GOOGLE_SEARCH_API_KEY = "test-google-key"
    settings.GOOGLE_SEARCH_ENGINE_ID = "test-cx"
    settings.GOOGLE_SEARCH_BASE_URL = search_server.url("google")
    yield search_server
    search_server.reset()


@pytest.fixture(autouse=True)
def empty_turn_queue() -> Iterator[None]:
    get_redis().delete("turns")
    yield
    get_redis().delete("turns")
