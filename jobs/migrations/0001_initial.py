"""The job models, taken over from `agents` (agents 0002 made them, agents 0003 let them go).

State only: the tables keep their names (`db_table` on every model) and their rows. On a
database made before the move, the models' content types are renamed from `agents` to `jobs`,
so staff permissions and admin history on them carry over.
"""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import jobs.models

JOB_MODELS = ("job", "jobapikey", "webhookdelivery", "webhookattempt")


def _relabel(apps, schema_editor, *, source: str, target: str) -> None:
    """Move the models' content types (and so their permissions and admin history) between apps.

    A content type already made under `target` (post_migrate makes one for every installed
    model, even before this migration runs) is fresh and unused: the old one replaces it."""
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(schema_editor.connection.alias)
    for model in JOB_MODELS:
        if content_types.filter(app_label=source, model=model).exists():
            content_types.filter(app_label=target, model=model).delete()
            content_types.filter(app_label=source, model=model).update(app_label=target)


def content_types_to_jobs(apps, schema_editor):
    _relabel(apps, schema_editor, source="agents", target="jobs")


def content_types_to_agents(apps, schema_editor):
    _relabel(apps, schema_editor, source="jobs", target="agents")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("agents", "0003_jobs_moved_to_jobs_app"),
        ("chat_sessions", "0003_session_revision"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="JobApiKey",
                    fields=[
                        (
                            "id",
                            models.CharField(
                                editable=False, max_length=150, primary_key=True, serialize=False, unique=True
                            ),
                        ),
                        ("prefix", models.CharField(editable=False, max_length=8, unique=True)),
                        ("hashed_key", models.CharField(editable=False, max_length=150)),
                        ("created", models.DateTimeField(auto_now_add=True, db_index=True)),
                        (
                            "name",
                            models.CharField(
                                default=None,
                                help_text="A free-form name for the API key. Need not be unique. 50 characters max.",
                                max_length=50,
                            ),
                        ),
                        (
                            "revoked",
                            models.BooleanField(
                                blank=True,
                                default=False,
                                help_text="If the API key is revoked, clients cannot use it anymore. (This cannot be undone.)",
                            ),
                        ),
                        (
                            "expiry_date",
                            models.DateTimeField(
                                blank=True,
                                help_text="Once API key expires, clients cannot use it anymore.",
                                null=True,
                                verbose_name="Expires",
                            ),
                        ),
                        (
                            "max_concurrent_jobs",
                            models.PositiveIntegerField(
                                blank=True,
                                help_text="Jobs of this key running at once; more wait queued. Empty = no limit.",
                                null=True,
                            ),
                        ),
                        (
                            "rate_limit_per_minute",
                            models.PositiveIntegerField(
                                blank=True,
                                help_text="Job submissions per minute; more get 429. Empty = no limit.",
                                null=True,
                            ),
                        ),
                        (
                            "webhook_secret",
                            models.CharField(default=jobs.models.new_webhook_secret, editable=False, max_length=100),
                        ),
                        (
                            "owner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="job_api_keys",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "job API key",
                        "verbose_name_plural": "job API keys",
                        "db_table": "agents_jobapikey",
                        "ordering": ("-created",),
                        "abstract": False,
                    },
                ),
                migrations.CreateModel(
                    name="Job",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("mode", models.CharField(max_length=16)),
                        ("prompt", models.TextField()),
                        ("attachments", models.JSONField(blank=True, default=list)),
                        ("pending_message", models.TextField(blank=True, default="")),
                        ("webhook_url", models.URLField(blank=True, default="", max_length=2000)),
                        ("metadata", models.JSONField(blank=True, default=dict)),
                        ("priority", models.SmallIntegerField(default=0)),
                        ("timeout_s", models.PositiveIntegerField(blank=True, null=True)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("running", "Running"),
                                    ("waiting", "Waiting"),
                                    ("succeeded", "Succeeded"),
                                    ("failed", "Failed"),
                                    ("cancelled", "Cancelled"),
                                ],
                                default="queued",
                                max_length=16,
                            ),
                        ),
                        ("error", models.TextField(blank=True, default="")),
                        ("result", models.JSONField(blank=True, null=True)),
                        ("idempotency_key", models.CharField(blank=True, max_length=200, null=True)),
                        ("request_hash", models.CharField(blank=True, default="", max_length=64)),
                        ("cancel_requested_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "owner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="jobs",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "session",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="jobs",
                                to="chat_sessions.session",
                            ),
                        ),
                        (
                            "turn",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="agents.turn",
                            ),
                        ),
                        (
                            "api_key",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="jobs",
                                to="jobs.jobapikey",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "agents_job",
                        "ordering": ["-created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="WebhookDelivery",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("event", models.CharField(max_length=32)),
                        ("url", models.URLField(max_length=2000)),
                        ("body", models.TextField()),
                        (
                            "status",
                            models.CharField(
                                choices=[("pending", "Pending"), ("succeeded", "Succeeded"), ("failed", "Failed")],
                                default="pending",
                                max_length=16,
                            ),
                        ),
                        ("attempt_count", models.PositiveIntegerField(default=0)),
                        ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("delivered_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "job",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="webhook_deliveries",
                                to="jobs.job",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "webhook deliveries",
                        "db_table": "agents_webhookdelivery",
                        "ordering": ["-created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="WebhookAttempt",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("number", models.PositiveIntegerField()),
                        ("status_code", models.PositiveIntegerField(blank=True, null=True)),
                        ("error", models.TextField(blank=True, default="")),
                        ("duration_ms", models.PositiveIntegerField(default=0)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "delivery",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="attempts",
                                to="jobs.webhookdelivery",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "agents_webhookattempt",
                        "ordering": ["number"],
                    },
                ),
                migrations.AddIndex(
                    model_name="job",
                    index=models.Index(fields=["owner", "-created_at"], name="job_owner_recent"),
                ),
                migrations.AddIndex(
                    model_name="job",
                    index=models.Index(fields=["api_key", "status", "-priority", "created_at"], name="job_key_line"),
                ),
                migrations.AddIndex(
                    model_name="job",
                    index=models.Index(fields=["turn"], name="job_turn"),
                ),
                migrations.AddConstraint(
                    model_name="job",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("idempotency_key__isnull", False)),
                        fields=("owner", "idempotency_key"),
                        name="job_one_per_idempotency_key",
                    ),
                ),
                migrations.AddIndex(
                    model_name="webhookdelivery",
                    index=models.Index(fields=["status", "next_attempt_at"], name="webhook_due"),
                ),
                migrations.AddConstraint(
                    model_name="webhookattempt",
                    constraint=models.UniqueConstraint(fields=("delivery", "number"), name="webhook_attempt_number"),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_jobs, content_types_to_agents),
    ]
