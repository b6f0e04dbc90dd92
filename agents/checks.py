"""System checks: `manage.py migrate` (which `make run` runs first) and `manage.py check` print them."""

from typing import Any

from django.core.checks import Warning, register


@register()
def model_configured_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Say at start-up that no model would answer, and what to set, instead of at the first message."""
    from .llm import model_problem  # settings are loaded by the time checks run

    problem = model_problem()
    if problem is None:
        return []
    return [
        Warning(f"No model is configured: {problem}", hint="Chats and tasks fail until it is set.", id="anker.W001")
    ]
