"""The web-search adapter: the one module that calls search providers over HTTP.

`SEARCH_PROVIDER` picks one of google, bing, brave, tavily, searxng or `api` (a generic
JSON API: `GET SEARCH_API_URL?q=...` answering `{results: [{title, url|link, snippet|content}]}`).
Each has a base URL setting, so a self-hosted or scripted endpoint can stand in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

DATE_RANGES = ("all", "past_hour", "past_day", "past_week", "past_month", "past_year")
_GOOGLE_DATE = {"past_hour": "h1", "past_day": "d1", "past_week": "w1", "past_month": "m1", "past_year": "y1"}
_BING_DATE = {"past_hour": "Day", "past_day": "Day", "past_week": "Week", "past_month": "Month"}
_BRAVE_DATE = {"past_hour": "pd", "past_day": "pd", "past_week": "pw", "past_month": "pm", "past_year": "py"}
_TAVILY_DAYS = {"past_hour": 1, "past_day": 1, "past_week": 7, "past_month": 30, "past_year": 365}
_SEARXNG_DATE = {"past_hour": "day", "past_day": "day", "past_week": "week", "past_month": "month", "past_year": "year"}


class SearchError(Exception):
    """The provider failed; the message is safe to show (no keys)."""


@dataclass(frozen=True)
class SearchResult:
    title: str
    link: str
    snippet: str


def search_provider() -> str | None:
    """The configured provider, or None when web search is not available."""
    provider = settings.SEARCH_PROVIDER.strip().lower()
    if not provider:
        if settings.GOOGLE_SEARCH_API_KEY and settings.GOOGLE_SEARCH_ENGINE_ID:
            return "google"
        return None
    configured = {
        "google": bool(settings.GOOGLE_SEARCH_API_KEY and settings.GOOGLE_SEARCH_ENGINE_ID),
        "bing": bool(settings.BING_SEARCH_API_KEY),
        "brave": bool(settings.BRAVE_SEARCH_API_KEY),
        "tavily": bool(settings.TAVILY_API_KEY),
        "searxng": bool(settings.SEARXNG_BASE_URL),
        "api": bool(settings.SEARCH_API_URL),
    }
    return provider if configured.get(provider) else None


def _request(method: str, url: str, **kwargs: Any) -> Any:
    timeout = httpx.Timeout(settings.SEARCH_TIMEOUT_SECONDS, connect=5.0)
    try:
        response = httpx.request(method, url, timeout=timeout, **kwargs)
    except httpx.HTTPError as exc:
        raise SearchError(f"the search provider could not be reached ({type(exc).__name__})") from exc
    if response.status_code != 200:
        raise SearchError(f"the search provider answered HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise SearchError("the search provider answered something that is not JSON") from exc


def _items(rows: Any, title: str, link: str, snippet: str) -> list[SearchResult]:
    out = []
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get(link):
            out.append(
                SearchResult(title=str(row.get(title) or ""), link=str(row[link]), snippet=str(row.get(snippet) or ""))
            )
    return out


def search_web(*, query: str, date_range: str | None = None) -> list[SearchResult]:
    """Search the web with the configured provider. Raises SearchError."""
    provider = search_provider()
    if provider is None:
        raise SearchError("web search is not configured (set SEARCH_PROVIDER and its key)")
    limit = settings.SEARCH_MAX_RESULTS
    when = date_range if date_range in _GOOGLE_DATE else None
    if provider == "google":
        params: dict[str, Any] = {
            "key": settings.GOOGLE_SEARCH_API_KEY,
            "cx": settings.GOOGLE_SEARCH_ENGINE_ID,
            "q": query,
            "num": min(limit, 10),
        }
        if when:
            params["dateRestrict"] = _GOOGLE_DATE[when]
        data = _request("GET", settings.GOOGLE_SEARCH_BASE_URL, params=params)
        results = _items(data.get("items"), "title", "link", "snippet")
    elif provider == "bing":
        params = {"q": query, "count": limit}
        if when in _BING_DATE:
            params["freshness"] = _BING_DATE[when]
        data = _request(
            "GET",
            settings.BING_SEARCH_BASE_URL,
            params=params,
            headers={"Ocp-Apim-Subscription-Key": settings.BING_SEARCH_API_KEY},
        )
        results = _items((data.get("webPages") or {}).get("value"), "name", "url", "snippet")
    elif provider == "brave":
        params = {"q": query, "count": min(limit, 20)}
        if when:
            params["freshness"] = _BRAVE_DATE[when]
        data = _request(
            "GET",
            settings.BRAVE_SEARCH_BASE_URL,
            params=params,
            headers={"X-Subscription-Token": settings.BRAVE_SEARCH_API_KEY, "Accept": "application/json"},
        )
        results = _items((data.get("web") or {}).get("results"), "title", "url", "description")
    elif provider == "tavily":
        body: dict[str, Any] = {"query": query, "max_results": limit}
        if when:
            body["days"] = _TAVILY_DAYS[when]
        data = _request(
            "POST",
            settings.TAVILY_BASE_URL,
            json=body,
            headers={"Authorization": f"Bearer {settings.TAVILY_API_KEY}"},
        )
        results = _items(data.get("results"), "title", "url", "content")
    elif provider == "searxng":
        params = {"q": query, "format": "json"}
        if when:
            params["time_range"] = _SEARXNG_DATE[when]
        data = _request("GET", settings.SEARXNG_BASE_URL, params=params)
        results = _items(data.get("results"), "title", "url", "content")
    else:
        headers = {"Authorization": f"Bearer {settings.SEARCH_API_KEY}"} if settings.SEARCH_API_KEY else {}
        params = {"q": query}
        if when:
            params["date_range"] = when
        data = _request("GET", settings.SEARCH_API_URL, params=params, headers=headers)
        rows = data.get("results") if isinstance(data, dict) else data
        link = "url" if rows and isinstance(rows[0], dict) and "url" in rows[0] else "link"
        snippet = "snippet" if rows and isinstance(rows[0], dict) and "snippet" in rows[0] else "content"
        results = _items(rows, "title", link, snippet)
    return results[:limit]
