from django.apps import AppConfig


class ChatSessionsConfig(AppConfig):
    """The conversation: sessions, their event log, readers and files.

    Labelled `chat_sessions` because `django.contrib.sessions` owns `sessions`.
    """

    name = "sessions"
    label = "chat_sessions"
    verbose_name = "Chat sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from anker_project.mongo import on_connect

        from .mongo import ensure_event_indexes

        on_connect(ensure_event_indexes)
