from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class AnkerProjectConfig(AppConfig):
    """The composition root as an app only to connect the token revocation (auth_tokens.py)."""

    name = "anker_project"
    label = "anker"
    verbose_name = "Anker"

    def ready(self) -> None:
        from .auth_tokens import revoke_on_deactivation_or_password_change

        post_save.connect(
            revoke_on_deactivation_or_password_change,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="anker.revoke_tokens",
        )
