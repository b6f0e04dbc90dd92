"""Run as a separate process by the event-log tests: publish N deltas to one session.

`python -m tests.sessions.publish_many <session_id> <tag> <n>` publishes `<tag>-0` … `<tag>-<n-1>`
through the real publisher, with the environment (Redis, Mongo, prefixes) of the test run.
"""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "anker_project.settings")
django.setup()

from sessions.events import MessageDeltaEvent  # noqa: E402
from sessions.publisher import event_publish  # noqa: E402

if __name__ == "__main__":
    session_id, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for i in range(count):
        event_publish(session_id, MessageDeltaEvent(delta=f"{tag}-{i}"))
