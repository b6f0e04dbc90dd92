"""Anker's HTTP app on Django's stock ASGI handler (async middleware chain): the "before" of
`bench/request_path.py`, served by daphne beside the real app in the same run."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anker_project.settings")

from django.core.asgi import get_asgi_application

application = get_asgi_application()
