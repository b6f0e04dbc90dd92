"""Which action a tool gets: rules in layers, the most specific layer that has a matching rule
wins (job, then API key, then user, then global); within a layer, the most specific pattern
(an exact name, then the pattern with the most literal characters). No rule: allow."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ALLOW, ASK, BLOCK = "allow", "ask", "block"
ACTIONS = (ALLOW, ASK, BLOCK)
LAYERS = ("job", "api_key", "user", "global")


def _specificity(pattern: str) -> tuple[int, int]:
    literal = sum(1 for char in pattern if char not in "*?")
    return (0 if any(char in pattern for char in "*?") else 1, literal)


def _match(rules: Mapping[str, str], tool: str) -> str | None:
    matching = [pattern for pattern in rules if fnmatch.fnmatchcase(tool, pattern)]
    if not matching:
        return None
    return rules[max(matching, key=_specificity)]


@dataclass(frozen=True)
class ToolPolicy:
    """Rule layers, most specific first, each a mapping pattern -> action."""

    layers: Sequence[Mapping[str, str]] = ()

    def action(self, tool: str) -> str:
        for rules in self.layers:
            found = _match(rules, tool)
            if found is not None:
                return found
        return ALLOW

    def offered(self, tools: Sequence[str]) -> list[str]:
        """The tools the model may see: all but the blocked."""
        return [name for name in tools if self.action(name) != BLOCK]

    def __bool__(self) -> bool:
        return any(self.layers)
