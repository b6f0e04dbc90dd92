"""The Celery application: `celery -A anker_project worker|beat|flower`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anker_project.settings")

app = Celery("anker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
