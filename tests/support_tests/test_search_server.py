from __future__ import annotations

import httpx
import pytest

from tests.support.search_server import ScriptedSearch

RESULTS = [
    ("Anker docs", "https://docs.example.com/anker", "Anker runs agents."),
    ("Anker repo", "https://git.example.com/anker/anker", "Source code."),
    ("Blog", "https://blog.example.org/post?id=1", "A post about Anker."),
]


@pytest.fixture
def s(search: ScriptedSearch) -> ScriptedSearch:
    search.add_results("anker", RESULTS)
    search.add_results("", [("Catch-all", "https://example.net/", "Anything.")])
    return search


def google(s, q, key="test-google-key", **params):
    return httpx.get(s.url("google"), params={"key": key, "cx": s.google_cx, "q": q, **params})


def bing(s, q, key="test-bing-key", **params):
    return httpx.get(s.url("bing"), params={"q": q, **params}, headers={"Ocp-Apim-Subscription-Key": key})


def brave(s, q, key="test-brave-key", **params):
    return httpx.get(
        s.url("brave"), params={"q": q, **params}, headers={"X-Subscription-Token": key, "Accept": "application/json"}
    )


def tavily(s, q, key="tvly-test-key", bearer=False, **body):
    if bearer:
        return httpx.post(s.url("tavily"), json={"query": q, **body}, headers={"Authorization": f"Bearer {key}"})
    return httpx.post(s.url("tavily"), json={"api_key": key, "query": q, **body})


def searxng(s, q, fmt="json"):
    return httpx.get(s.url("searxng"), params={"q": q, "format": fmt})


def triples(items, t, u, snip):
    return [(i[t], i[u], i[snip]) for i in items]


def test_urls(s):
    assert s.base_url.startswith("http://127.0.0.1:") and s.url("bing") == s.base_url + "/v7.0/search"


def test_google_format(s):
    r = google(s, "What is ANKER?")
    assert r.status_code == 200
    data = r.json()
    assert data["kind"] == "customsearch#search" and data["searchInformation"]["totalResults"] == "3"
    assert triples(data["items"], "title", "link", "snippet") == RESULTS
    assert data["items"][0]["displayLink"] == "docs.example.com"
    assert triples(google(s, "anker", num=1, start=2).json()["items"], "title", "link", "snippet") == RESULTS[1:2]


def test_google_no_results_omits_items(search):
    data = google(search, "nothing").json()
    assert "items" not in data and data["searchInformation"]["totalResults"] == "0"


def test_google_auth_errors(s):
    r = google(s, "anker", key="bad")
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "API key not valid" in r.json()["error"]["message"]
    r = httpx.get(s.url("google"), params={"cx": s.google_cx, "q": "anker"})
    assert r.status_code == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"
    assert httpx.get(s.url("google"), params={"key": "test-google-key", "q": "anker"}).status_code == 400  # no cx


def test_bing_format(s):
    data = bing(s, "anker", count=2).json()
    assert data["_type"] == "SearchResponse" and data["queryContext"]["originalQuery"] == "anker"
    assert triples(data["webPages"]["value"], "name", "url", "snippet") == RESULTS[:2]
    assert triples(bing(s, "anker", offset=2).json()["webPages"]["value"], "name", "url", "snippet") == RESULTS[2:]
    assert triples(bing(s, "anker", offset=0).json()["webPages"]["value"], "name", "url", "snippet") == RESULTS


def test_bing_no_results_and_auth(search):
    assert "webPages" not in bing(search, "nothing").json()
    r = bing(search, "x", key="bad")
    assert r.status_code == 401 and r.json()["error"]["code"] == "401"
    assert httpx.get(search.url("bing"), params={"q": "x"}).status_code == 401


def test_brave_format_and_auth(s):
    data = brave(s, "anker").json()
    assert data["type"] == "search" and data["query"]["original"] == "anker"
    assert triples(data["web"]["results"], "title", "url", "description") == RESULTS
    r = brave(s, "anker", key="bad")
    assert r.status_code == 422 and r.json()["error"]["code"] == "SUBSCRIPTION_TOKEN_INVALID"


def test_tavily_format_and_auth(s):
    data = tavily(s, "anker", max_results=2).json()
    assert data["query"] == "anker" and data["answer"] is None
    assert triples(data["results"], "title", "url", "content") == RESULTS[:2]
    assert data["results"][0]["score"] > data["results"][1]["score"]
    assert triples(tavily(s, "anker", bearer=True).json()["results"], "title", "url", "content") == RESULTS
    r = tavily(s, "anker", key="bad")
    assert r.status_code == 401 and "error" in r.json()["detail"]
    assert httpx.post(s.url("tavily"), json={"query": "anker"}).status_code == 401


def test_searxng_format(s):
    data = searxng(s, "anker").json()
    assert data["query"] == "anker" and data["number_of_results"] == 3
    assert triples(data["results"], "title", "url", "content") == RESULTS
    assert searxng(s, "anker", fmt="html").status_code == 403


def test_catch_all_and_first_match_wins(s):
    assert triples(searxng(s, "unrelated").json()["results"], "title", "url", "content") == [
        ("Catch-all", "https://example.net/", "Anything.")
    ]


def test_requests_recorded_without_secrets(s):
    google(s, "anker")
    bing(s, "anker")
    brave(s, "anker", key="bad")
    tavily(s, "anker")
    searxng(s, "anker")
    reqs = s.wait_for_requests(5, timeout=2)
    assert [(r.provider, r.query, r.authorized) for r in reqs] == [
        ("google", "anker", True),
        ("bing", "anker", True),
        ("brave", "anker", False),
        ("tavily", "anker", True),
        ("searxng", "anker", True),
    ]
    dump = repr(reqs)
    for secret in ("test-google-key", "test-bing-key", "tvly-test-key", "'bad'"):
        assert secret not in dump
    assert reqs[3].json == {"query": "anker"} and reqs[0].params["cx"] == s.google_cx


def test_injected_failures(s):
    s.fail("bing", 429, times=2)
    s.fail("tavily", 500)
    assert bing(s, "anker").status_code == 429 and bing(s, "anker").status_code == 429
    assert bing(s, "anker").status_code == 200
    r = tavily(s, "anker")
    assert r.status_code == 500 and "error" in r.json()["detail"]
    assert google(s, "anker").status_code == 200


def test_missing_query_and_unknown_path(s):
    assert searxng(s, "").status_code == 400
    assert brave(s, "").status_code == 422
    assert httpx.get(s.base_url + "/nope").status_code == 404


def test_custom_keys_and_reset():
    with ScriptedSearch(keys={"brave": "other"}) as srv:
        srv.add_results("q", RESULTS)
        assert brave(srv, "q", key="other").status_code == 200
        assert brave(srv, "q").status_code == 422
        srv.reset()
        assert srv.requests == [] and brave(srv, "q", key="other").json()["web"]["results"] == []
