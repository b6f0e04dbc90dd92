"""Write the JSON schema of session events for the web app; `--check` fails on drift."""

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sessions.events import event_json_schema

DEFAULT_PATH = Path(settings.BASE_DIR) / "frontend" / "schema" / "events.json"


class Command(BaseCommand):
    help = "Export the event schema to frontend/schema/events.json (the web app's types come from it)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="fail if the checked-in file is out of date")
        parser.add_argument("--path", type=Path, default=DEFAULT_PATH)

    def handle(self, *args: Any, check: bool, path: Path, **options: Any) -> None:
        text = json.dumps(event_json_schema(), indent=2, sort_keys=True) + "\n"
        if check:
            if not path.exists() or path.read_text() != text:
                raise CommandError(f"{path} is out of date: run `make schema` and commit the result.")
            self.stdout.write("event schema is up to date")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.stdout.write(f"wrote {path}")
