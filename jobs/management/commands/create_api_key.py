"""`manage.py create_api_key --owner USERNAME --name NAME`: prints {"key", "webhook_secret"} once."""

from __future__ import annotations

import json
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.multitask import MultitaskStrategy
from jobs.models import JobApiKey


class Command(BaseCommand):
    help = "Create a job API key for a user and print it (shown only now) with its webhook secret, as one JSON line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", required=True, help="username of the key's owner")
        parser.add_argument("--name", required=True, help="a name for the key (50 characters at most)")
        parser.add_argument("--max-concurrent", type=int, default=None, help="jobs running at once; more wait queued")
        parser.add_argument("--rate-per-minute", type=int, default=None, help="submissions per minute; more get 429")
        parser.add_argument(
            "--multitask-strategy",
            choices=MultitaskStrategy.values,
            default=MultitaskStrategy.REJECT,
            help="what a job submitted into a busy session does by default (reject, interrupt, rollback, enqueue)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        owner = get_user_model().objects.filter(username=options["owner"]).first()
        if owner is None:
            raise CommandError(f"no user named {options['owner']!r}")
        for name in ("max_concurrent", "rate_per_minute"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1")
        created, key = JobApiKey.objects.create_key(
            owner=owner,
            name=options["name"][:50],
            max_concurrent_jobs=options["max_concurrent"],
            rate_limit_per_minute=options["rate_per_minute"],
            default_multitask_strategy=options["multitask_strategy"],
        )
        key_obj = cast(JobApiKey, created)
        self.stdout.write(json.dumps({"key": key, "webhook_secret": key_obj.webhook_secret}))
