"""Anker's settings with the jobs benchmark's baseline view added to the URLs (bench/bare_urls.py)."""

from anker_project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_urls"
