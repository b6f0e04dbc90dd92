from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Runs for other systems, above `agents`: jobs, API keys, the jobs API, dispatch and webhooks."""

    name = "jobs"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # `agents` never imports this app: it calls what is registered in `agents.hooks`.
        from agents.hooks import register_turn_end_hook, register_turn_pending_resolver, register_turn_queue_resolver

        from .selectors import job_turn_pending
        from .services import job_on_turn_end, job_turn_queue

        register_turn_end_hook(job_on_turn_end)
        register_turn_queue_resolver(job_turn_queue)
        register_turn_pending_resolver(job_turn_pending)
