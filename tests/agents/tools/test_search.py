"""Search toolkit through every provider's real wire format (tests/support/search_server.py):
the same results reach the model and the UI whichever provider answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pytest_django.fixtures import Settings

from agents.tools import REGISTRY, ToolEnv, ToolFailedError, ToolResult, tools_available
from tests.support.search_server import ScriptedSearch

pytestmark = pytest.mark.django_db(transaction=True)

RESULTS = [
    ("Danforth anchor", "https://example.test/danforth", "A fluke anchor."),
    ("Plough anchor", "https://example.test/plough", "Also called CQR."),
]
PROVIDERS = ["google", "bing", "brave", "tavily", "searxng"]


def run(env: ToolEnv, **args: Any) -> ToolResult:
    tool = REGISTRY["info_search_web"]
    return tool.run(env, tool.args.model_validate(args))


@pytest.fixture
def provider(
    request: pytest.FixtureRequest, search_server: ScriptedSearch, settings: Settings
) -> Iterator[tuple[str, ScriptedSearch]]:
    """Configure SEARCH_PROVIDER=<param> against the scripted server."""
    name: str = request.param
    search_server.reset()
    settings.SEARCH_PROVIDER = name
    settings.GOOGLE_SEARCH_API_KEY, settings.GOOGLE_SEARCH_ENGINE_ID = "test-google-key", "test-cx"
    settings.GOOGLE_SEARCH_BASE_URL = search_server.url("google")
    settings.BING_SEARCH_API_KEY, settings.BING_SEARCH_BASE_URL = "test-bing-key", search_server.url("bing")
    settings.BRAVE_SEARCH_API_KEY, settings.BRAVE_SEARCH_BASE_URL = "test-brave-key", search_server.url("brave")
    settings.TAVILY_API_KEY, settings.TAVILY_BASE_URL = "tvly-test-key", search_server.url("tavily")
    settings.SEARXNG_BASE_URL = search_server.url("searxng")
    yield name, search_server
    search_server.reset()


@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_every_provider_gives_the_model_and_the_ui_the_same_results(
    env: ToolEnv, provider: tuple[str, ScriptedSearch]
) -> None:
    name, server = provider
    server.add_results("anchor", RESULTS)

    result = run(env, query="best anchor")

    assert result.output == (
        "1. Danforth anchor\n   https://example.test/danforth\n   A fluke anchor.\n"
        "2. Plough anchor\n   https://example.test/plough\n   Also called CQR."
    )
    assert result.content == {
        "query": "best anchor",
        "results": [{"title": t, "link": u, "snippet": s} for t, u, s in RESULTS],
    }
    [sent] = server.requests
    assert (sent.provider, sent.query, sent.authorized) == (name, "best anchor", True)


@pytest.mark.parametrize(
    ("provider", "sent_as"),
    [
        ("google", ("params", "dateRestrict", "w1")),
        ("bing", ("params", "freshness", "Week")),
        ("brave", ("params", "freshness", "pw")),
        ("tavily", ("json", "days", 7)),
        ("searxng", ("params", "time_range", "week")),
    ],
    indirect=["provider"],
)
def test_a_date_range_is_sent_in_each_providers_own_terms(
    env: ToolEnv, provider: tuple[str, ScriptedSearch], sent_as: tuple[str, str, Any]
) -> None:
    _, server = provider

    run(env, query="anchor news", date_range="past_week")

    where, key, value = sent_as
    [sent] = server.requests
    assert (getattr(sent, where) or {})[key] == value


@pytest.mark.parametrize("provider", PROVIDERS, indirect=True)
def test_no_results_say_so(env: ToolEnv, provider: tuple[str, ScriptedSearch]) -> None:
    result = run(env, query="grapnel")

    assert result.output == "no results"
    assert result.content == {"query": "grapnel", "results": []}


@pytest.mark.parametrize("provider", ["google", "bing", "brave", "tavily"], indirect=True)
def test_a_provider_error_becomes_a_tool_error_without_the_key(
    env: ToolEnv, provider: tuple[str, ScriptedSearch]
) -> None:
    name, server = provider
    server.fail(name, 503)

    with pytest.raises(ToolFailedError) as failed:
        run(env, query="anchor")

    assert str(failed.value) == "search failed: the search provider answered HTTP 503"


@pytest.mark.parametrize("provider", ["google"], indirect=True)
def test_results_are_capped_at_search_max_results(
    env: ToolEnv, provider: tuple[str, ScriptedSearch], settings: Settings
) -> None:
    _, server = provider
    settings.SEARCH_MAX_RESULTS = 1
    server.add_results("anchor", RESULTS)

    result = run(env, query="anchor")

    assert [r["title"] for r in result.content["results"]] == ["Danforth anchor"]
    assert server.requests[0].params["num"] == "1"


def test_without_a_configured_provider_the_agent_has_no_search_tool(settings: Settings) -> None:
    settings.SEARCH_PROVIDER = "bing"
    settings.BING_SEARCH_API_KEY = ""
    settings.GOOGLE_SEARCH_API_KEY = ""

    assert "info_search_web" not in tools_available(has_browser=False)


class GenericSearchApi:
    """A self-hosted search API of the generic shape (`SEARCH_PROVIDER=api`): GET ?q= answers
    `{"results": [...]}` with whatever rows the test sets; requests are recorded."""

    def __init__(self) -> None:
        self.rows: list[dict[str, str]] | dict[str, Any] = []
        self.requests: list[tuple[dict[str, str], str]] = []  # (query parameters, Authorization header)
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                params = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                api.requests.append((params, self.headers.get("Authorization", "")))
                body = json.dumps(api.rows if isinstance(api.rows, dict) else {"results": api.rows}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/search"


@pytest.fixture
def generic_api(settings: Settings) -> Iterator[GenericSearchApi]:
    api = GenericSearchApi()
    settings.SEARCH_PROVIDER, settings.SEARCH_API_URL, settings.SEARCH_API_KEY = "api", api.url, "generic-key"
    try:
        yield api
    finally:
        api.server.shutdown()
        api.server.server_close()


def test_the_generic_api_gives_the_same_results_and_gets_the_key_and_date_range(
    env: ToolEnv, generic_api: GenericSearchApi
) -> None:
    generic_api.rows = [{"title": t, "url": u, "snippet": s} for t, u, s in RESULTS]

    result = run(env, query="best anchor", date_range="past_week")

    assert result.content == {
        "query": "best anchor",
        "results": [{"title": t, "link": u, "snippet": s} for t, u, s in RESULTS],
    }
    assert result.output.startswith("1. Danforth anchor\n   https://example.test/danforth\n   A fluke anchor.\n2.")
    assert generic_api.requests == [({"q": "best anchor", "date_range": "past_week"}, "Bearer generic-key")]


def test_the_generic_api_also_reads_link_and_content_fields(env: ToolEnv, generic_api: GenericSearchApi) -> None:
    generic_api.rows = [{"title": "Danforth anchor", "link": "https://example.test/danforth", "content": "Fluke."}]

    result = run(env, query="anchor")

    assert result.content["results"] == [
        {"title": "Danforth anchor", "link": "https://example.test/danforth", "snippet": "Fluke."}
    ]


def test_the_generic_api_with_no_results_says_so(env: ToolEnv, generic_api: GenericSearchApi) -> None:
    result = run(env, query="grapnel")

    assert (result.output, result.content) == ("no results", {"query": "grapnel", "results": []})
