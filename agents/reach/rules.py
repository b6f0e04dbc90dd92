"""A user's tool rules."""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.db import transaction

from anker_project.errors import ApplicationError

from .models import TOOL_PATTERN_RE, ToolAction, ToolRule

MAX_RULES = 200


class ToolRuleInvalidError(ApplicationError):
    status = 422


def tool_rules_check(rules: Mapping[str, str]) -> dict[str, str]:
    """pattern -> action, each checked; ToolRuleInvalidError says which is wrong."""
    if len(rules) > MAX_RULES:
        raise ToolRuleInvalidError(f"at most {MAX_RULES} tool rules")
    out = {}
    for pattern, action in rules.items():
        if not isinstance(pattern, str) or not re.fullmatch(TOOL_PATTERN_RE, pattern):
            raise ToolRuleInvalidError(
                f"tool pattern {str(pattern)[:100]!r}: use a tool name with letters, digits, _ and -, "
                "and the wildcards * and ? (e.g. browser_*, mcp_*)"
            )
        if action not in ToolAction.values:
            raise ToolRuleInvalidError(f"tool rule {pattern!r}: action must be allow, ask or block")
        out[pattern] = action
    return out


def tool_rules_of_owner(*, owner_id: int | None) -> list[ToolRule]:
    """The owner's rules (None: the global ones), in the table's order."""
    if owner_id is None:
        return list(ToolRule.objects.filter(owner__isnull=True))
    return list(ToolRule.objects.filter(owner_id=owner_id))


def tool_rules_set(*, owner_id: int, rules: Mapping[str, str]) -> None:
    """Replace the owner's rules with `rules`."""
    checked = tool_rules_check(rules)
    with transaction.atomic():
        ToolRule.objects.filter(owner_id=owner_id).delete()
        ToolRule.objects.bulk_create(ToolRule(owner_id=owner_id, pattern=p, action=a) for p, a in checked.items())
