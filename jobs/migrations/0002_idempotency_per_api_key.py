"""An API key is a principal of its own.

- Idempotency keys are unique per API key, not per owner: key A can neither learn from a 409
  that key B used `invoice-2291` nor claim B's keys first.
- The sessions of jobs made before this carry their key's id (`Session.api_key_id`), so each
  key keeps seeing its own jobs' sessions, and only those.
"""

from django.conf import settings
from django.db import migrations, models


def _tag_job_sessions(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    Session = apps.get_model("chat_sessions", "Session")
    pairs = Job.objects.filter(session__isnull=False, api_key__isnull=False).values_list("session_id", "api_key_id")
    for session_id, api_key_id in pairs.iterator():
        Session.objects.filter(pk=session_id).update(api_key_id=api_key_id)


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0003_jobs_moved_to_jobs_app"),
        ("chat_sessions", "0004_session_api_key"),
        ("jobs", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="job",
            name="job_one_per_idempotency_key",
        ),
        migrations.AddConstraint(
            model_name="job",
            constraint=models.UniqueConstraint(
                condition=models.Q(("idempotency_key__isnull", False)),
                fields=("api_key", "idempotency_key"),
                name="job_one_per_key_idempotency_key",
            ),
        ),
        migrations.RunPython(_tag_job_sessions, migrations.RunPython.noop),
    ]
