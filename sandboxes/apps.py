from django.apps import AppConfig


class SandboxesConfig(AppConfig):
    """Sandboxes: the machines agents work in (backends, pool, leases, VNC proxy)."""

    name = "sandboxes"
    verbose_name = "Sandboxes"
    default_auto_field = "django.db.models.BigAutoField"
