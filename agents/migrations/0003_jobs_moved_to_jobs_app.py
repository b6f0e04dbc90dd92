"""The job models moved to their own app, `jobs` (its 0001 takes them over with the same tables).

State only: the tables `agents_job`, `agents_jobapikey`, `agents_webhookdelivery` and
`agents_webhookattempt` and their rows stay where they are.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0002_jobs"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="webhookdelivery",
                    name="job",
                ),
                migrations.RemoveField(
                    model_name="jobapikey",
                    name="owner",
                ),
                migrations.RemoveField(
                    model_name="webhookattempt",
                    name="delivery",
                ),
                migrations.DeleteModel(
                    name="Job",
                ),
                migrations.DeleteModel(
                    name="JobApiKey",
                ),
                migrations.DeleteModel(
                    name="WebhookAttempt",
                ),
                migrations.DeleteModel(
                    name="WebhookDelivery",
                ),
            ],
            database_operations=[],
        )
    ]
