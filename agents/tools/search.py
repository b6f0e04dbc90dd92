"""Search toolkit: web search through the configured provider (agents/search.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agents.search import SearchError, search_web

from .base import Tool, ToolArgs, ToolEnv, ToolFailedError, ToolResult

DateRange = Literal["all", "past_hour", "past_day", "past_week", "past_month", "past_year"]


class SearchArgs(ToolArgs):
    query: str = Field(min_length=1, description="Search query in the style of a search engine, 3-5 keywords.")
    date_range: DateRange | None = Field(default=None, description="Restrict results to a recent period.")


def info_search_web(env: ToolEnv, args: SearchArgs) -> ToolResult:
    try:
        results = search_web(query=args.query, date_range=args.date_range)
    except SearchError as exc:
        raise ToolFailedError(f"search failed: {exc}") from exc
    rows = [{"title": r.title, "link": r.link, "snippet": r.snippet} for r in results]
    lines = [f"{i}. {r['title']}\n   {r['link']}\n   {r['snippet']}" for i, r in enumerate(rows, 1)]
    output = "\n".join(lines) if lines else "no results"
    return ToolResult(output=output, content={"query": args.query, "results": rows})


TOOLS: dict[str, Tool[Any]] = {
    "info_search_web": Tool(
        "info_search_web",
        "search",
        "Search the web. Results are page titles, links and snippets: open pages with the browser for details.",
        SearchArgs,
        info_search_web,
    ),
}
