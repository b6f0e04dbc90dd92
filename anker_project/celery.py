"""The Celery application: `celery -A anker_project worker|beat|flower`."""

import os
import warnings

from celery import Celery
from celery.exceptions import SecurityWarning

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anker_project.settings")

# `make run` (anker_project.embedded, which sets ANKER_EMBEDDED) is a one-machine runner that is
# often started as root, e.g. in a dev container. Celery's root warning asks for `--uid`, which
# a `make run` user cannot pass; the runner says in its banner that it runs as root instead.
# (The messages are JSON only, so Celery's real refusal — pickle as root — cannot apply.)
# Production workers run as the image's `anker` user, where Celery never warns.
if os.environ.get("ANKER_EMBEDDED") == "1":
    warnings.filterwarnings(
        "ignore", message="You're running the worker with superuser privileges", category=SecurityWarning
    )

app = Celery("anker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
