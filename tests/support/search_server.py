"""Scripted web-search providers on one loopback server, each speaking its real wire format.

- google:  GET  /customsearch/v1?key=&cx=&q=   wrong key 400, no key 403   -> items[{title, link, snippet}]
- bing:    GET  /v7.0/search?q=  Ocp-Apim-Subscription-Key header, 401  -> webPages.value[{name, url, snippet}]
- brave:   GET  /res/v1/web/search?q=  X-Subscription-Token header, 422  -> web.results[{title, url, description}]
- tavily:  POST /search {"query", "api_key"} or Bearer, 401             -> results[{title, url, content}]
- searxng: GET  /search?q=&format=json  no key; other formats 403        -> results[{title, url, content}]

Like the real APIs, Google omits ``items`` and Bing omits ``webPages`` when nothing matched.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._http import JSONHandler, LoopbackServer

Result = tuple[str, str, str]  # (title, url, snippet)
PATHS = {
    "google": "/customsearch/v1",
    "bing": "/v7.0/search",
    "brave": "/res/v1/web/search",
    "tavily": "/search",
    "searxng": "/search",
}
DEFAULT_KEYS = {
    "google": "test-google-key",
    "bing": "test-bing-key",
    "brave": "test-brave-key",
    "tavily": "tvly-test-key",
}
_SECRET_HEADERS = ("authorization", "ocp-apim-subscription-key", "x-subscription-token")
_AUTH_ERRORS = {  # provider -> (status, message, code) for a wrong key; Google without key: see below
    "google": (400, "API key not valid. Please pass a valid API key.", "badRequest"),
    "bing": (
        401,
        (
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
            "valid key for an active subscription and use a correct regional API endpoint for your resource."
        ),
        "",
    ),
    "brave": (422, "The provided subscription token is invalid.", "SUBSCRIPTION_TOKEN_INVALID"),
    "tavily": (401, "Unauthorized: missing or invalid API key.", ""),
}
_GOOGLE_NO_KEY = (
    403,
    (
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API."
    ),
    "forbidden",
)


@dataclass
class SearchRequest:
    """One received request. Key values are never stored; ``authorized`` tells whether the key was right."""

    provider: str
    method: str
    path: str
    query: str
    params: dict[str, str]
    json: dict[str, Any] | None
    authorized: bool
    headers: dict[str, str] = field(default_factory=dict)


class ScriptedSearch(LoopbackServer):
    """Scripted Google CSE / Bing v7 / Brave / Tavily / SearXNG endpoints on one loopback server."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        keys: Mapping[str, str] | None = None,
        google_cx: str = "test-cx",
    ) -> None:
        super().__init__(host, port)
        self.keys: dict[str, str] = {**DEFAULT_KEYS, **(keys or {})}
        self.google_cx = google_cx
        self._lock = threading.Condition()
        self._results: list[tuple[str, list[Result]]] = []
        self._failures: dict[str, list[int]] = {}
        self._requests: list[SearchRequest] = []

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; every provider lives under it at its real path (see ``url``)."""
        return self.root_url

    def url(self, provider: str) -> str:
        """Full endpoint URL of ``provider`` (``google|bing|brave|tavily|searxng``)."""
        return self.root_url + PATHS[provider]

    @property
    def requests(self) -> list[SearchRequest]:
        with self._lock:
            return list(self._requests)

    def add_results(self, query_substring: str, results: Sequence[Result]) -> None:
        """Queries containing ``query_substring`` (case-insensitive) get ``results``. First registered match
        wins; ``""`` is a catch-all; unmatched queries get no results."""
        with self._lock:
            self._results.append((query_substring.lower(), [(t, u, s) for t, u, s in results]))

    def fail(self, provider: str, status: int, *, times: int = 1) -> None:
        """The next ``times`` authorized requests to ``provider`` fail with ``status`` (provider-shaped body)."""
        with self._lock:
            self._failures.setdefault(provider, []).extend([status] * times)

    def reset(self) -> None:
        with self._lock:
            self._results.clear()
            self._failures.clear()
            self._requests.clear()

    def wait_for_requests(self, n: int, timeout: float) -> list[SearchRequest]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(f"expected {n} search requests within {timeout}s, got {len(self._requests)}")
            return list(self._requests)

    def _record_and_resolve(self, req: SearchRequest) -> tuple[int | None, list[Result]]:
        with self._lock:
            self._requests.append(req)
            self._lock.notify_all()
            if req.authorized and self._failures.get(req.provider):
                return self._failures[req.provider].pop(0), []
            return None, next((list(r) for sub, r in self._results if sub in req.query.lower()), [])


def _int(params: Mapping[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(params.get(name, default))))
    except (TypeError, ValueError):
        return default


class _SearchHandler(JSONHandler):
    owner: ScriptedSearch

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        raw = self.read_body()
        parts = urlsplit(self.path)
        path, params = parts.path.rstrip("/"), {k: v[-1] for k, v in parse_qs(parts.query).items()}
        provider = next((p for p, pp in PATHS.items() if pp == path and (method == "POST") == (p == "tavily")), None)
        if provider is None:
            return self.send_json(404, {"detail": "Not Found"})
        try:
            body = json.loads(raw or b"{}") if method == "POST" else {}
        except ValueError:
            return self._fail(provider, 400, "Invalid JSON body.")
        auth = self.headers.get("Authorization", "")
        given = {
            "google": params.get("key"),
            "bing": self.headers.get("Ocp-Apim-Subscription-Key"),
            "brave": self.headers.get("X-Subscription-Token"),
            "tavily": body.get("api_key") or (auth[7:].strip() if auth.startswith("Bearer ") else None),
        }.get(provider)
        key = self.owner.keys.get(provider)
        query = str(body.get("query") or "") if provider == "tavily" else params.get("q", "")
        req = SearchRequest(
            provider,
            method,
            path,
            query,
            {k: v for k, v in params.items() if k != "key"},
            {k: v for k, v in body.items() if k != "api_key"} if method == "POST" else None,
            key is None or given == key,
            {k: v for k, v in self.headers.items() if k.lower() not in _SECRET_HEADERS},
        )
        status, results = self.owner._record_and_resolve(req)
        if not req.authorized:
            return self._fail(provider, *(_AUTH_ERRORS[provider] if given or provider != "google" else _GOOGLE_NO_KEY))
        if status is not None:
            return self._fail(provider, status, f"Scripted failure (HTTP {status}).", "scripted")
        if provider == "google" and params.get("cx") != self.owner.google_cx:
            return self._fail(provider, 400, "Request contains an invalid argument.", "badRequest")
        if provider == "searxng" and params.get("format") != "json":
            return self.send_bytes(403, b"Forbidden", "text/plain")
        if not query:
            return self._fail(provider, 422 if provider == "brave" else 400, "Query is missing.", "VALIDATION")
        return self.send_json(200, getattr(self, f"_{provider}")(query, params, body, results))

    def _fail(self, provider: str, status: int, message: str, code: str = "") -> None:
        """Send an error shaped like ``provider``'s real error responses."""
        if provider == "google":
            gstatus = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED"}.get(status)
            self.send_json(
                status,
                {
                    "error": {
                        "code": status,
                        "message": message,
                        "status": gstatus or "INTERNAL",
                        "errors": [{"message": message, "domain": "global", "reason": code or "backendError"}],
                    }
                },
            )
        elif provider == "bing":
            self.send_json(status, {"error": {"code": str(status), "message": message}})
        elif provider == "brave":
            self.send_json(
                status,
                {
                    "type": "ErrorResponse",
                    "time": int(time.time()),
                    "error": {
                        "id": str(uuid.uuid4()),
                        "status": status,
                        "code": code or "ERROR",
                        "detail": message,
                        "meta": {},
                    },
                },
            )
        elif provider == "tavily":
            self.send_json(status, {"detail": {"error": message}})
        else:  # SearXNG answers errors as plain text / HTML
            self.send_bytes(status, message.encode(), "text/plain; charset=utf-8")

    def _google(self, q: str, params: dict, _: dict, results: list[Result]) -> dict:
        start = _int(params, "start", 1, 1, 100)
        page = results[start - 1 : start - 1 + _int(params, "num", 10, 1, 10)]
        total = str(len(results))
        out: dict[str, Any] = {
            "kind": "customsearch#search",
            "queries": {
                "request": [
                    {
                        "title": f"Google Custom Search - {q}",
                        "totalResults": total,
                        "searchTerms": q,
                        "count": len(page),
                        "startIndex": start,
                        "cx": self.owner.google_cx,
                    }
                ]
            },
            "searchInformation": {
                "searchTime": 0.1,
                "formattedSearchTime": "0.10",
                "totalResults": total,
                "formattedTotalResults": total,
            },
        }
        if page:
            out["items"] = [
                {
                    "kind": "customsearch#result",
                    "title": t,
                    "htmlTitle": t,
                    "link": u,
                    "snippet": s,
                    "displayLink": urlsplit(u).netloc,
                    "htmlSnippet": s,
                    "formattedUrl": u,
                }
                for t, u, s in page
            ]
        return out

    def _bing(self, q: str, params: dict, _: dict, results: list[Result]) -> dict:
        offset = _int(params, "offset", 0, 0, 1000)
        page = results[offset : offset + _int(params, "count", 10, 1, 50)]
        out: dict[str, Any] = {"_type": "SearchResponse", "queryContext": {"originalQuery": q}}
        if page:
            out["webPages"] = {
                "webSearchUrl": f"https://www.bing.com/search?q={q}",
                "totalEstimatedMatches": len(results),
                "value": [
                    {
                        "id": f"https://api.bing.microsoft.com/api/v7/#WebPages.{i}",
                        "name": t,
                        "url": u,
                        "displayUrl": u,
                        "snippet": s,
                        "isFamilyFriendly": True,
                        "language": "en",
                        "dateLastCrawled": "2024-01-01T00:00:00.0000000Z",
                    }
                    for i, (t, u, s) in enumerate(page)
                ],
            }
        return out

    def _brave(self, q: str, params: dict, _: dict, results: list[Result]) -> dict:
        page = results[: _int(params, "count", 20, 1, 20)]
        return {
            "type": "search",
            "query": {"original": q, "more_results_available": len(results) > len(page)},
            "web": {
                "type": "search",
                "family_friendly": True,
                "results": [
                    {
                        "type": "search_result",
                        "subtype": "generic",
                        "title": t,
                        "url": u,
                        "description": s,
                        "language": "en",
                        "family_friendly": True,
                        "is_source_local": False,
                        "is_source_both": False,
                        "meta_url": {
                            "scheme": urlsplit(u).scheme,
                            "netloc": urlsplit(u).netloc,
                            "hostname": urlsplit(u).hostname,
                            "path": urlsplit(u).path,
                        },
                    }
                    for t, u, s in page
                ],
            },
        }

    def _tavily(self, q: str, _: dict, body: dict, results: list[Result]) -> dict:
        page = results[: _int(body, "max_results", 5, 1, 20)]
        return {
            "query": q,
            "follow_up_questions": None,
            "answer": None,
            "images": [],
            "response_time": 0.01,
            "request_id": str(uuid.uuid4()),
            "results": [
                {"title": t, "url": u, "content": s, "score": round(0.99 - 0.01 * i, 4), "raw_content": None}
                for i, (t, u, s) in enumerate(page)
            ],
        }

    def _searxng(self, q: str, _: dict, __: dict, results: list[Result]) -> dict:
        return {
            "query": q,
            "number_of_results": len(results),
            "answers": [],
            "corrections": [],
            "infoboxes": [],
            "suggestions": [],
            "unresponsive_engines": [],
            "results": [
                {
                    "title": t,
                    "url": u,
                    "content": s,
                    "engine": "scripted",
                    "engines": ["scripted"],
                    "positions": [i + 1],
                    "score": 1.0 / (i + 1),
                    "category": "general",
                    "template": "default.html",
                    "parsed_url": [*urlsplit(u), ""],
                }
                for i, (t, u, s) in enumerate(results)
            ],
        }


ScriptedSearch.handler_class = _SearchHandler
