from django.apps import AppConfig


class AgentsConfig(AppConfig):
    """The work: turns, the agent loop, the model client, tools and the endpoints that start or end work."""

    name = "agents"
    verbose_name = "Agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the start-up checks
