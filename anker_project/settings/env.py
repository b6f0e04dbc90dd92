"""The one environment reader shared by the settings modules."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parents[2]

env = environ.Env()
# A `.env` beside manage.py is read if present; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Where `make run` keeps its data (SQLite, Redis, Mongo, sandboxes, logs, the generated secret key).
DATA_DIR = Path(env.str("ANKER_DATA_DIR", default="") or BASE_DIR / ".data")


def env_or(name: str, default: str) -> str:
    """The variable's value, or `default` when it is unset or empty (as in a copied .env.example)."""
    return env.str(name, default="") or default


# Ports of the private Redis and Mongo-compatible server that `make run` starts. They are
# the defaults of REDIS_URL and MONGODB_URL, so manage.py commands reach the same servers
# while `make run` is running, with no extra environment.
EMBEDDED_REDIS_PORT = env.int("EMBEDDED_REDIS_PORT", default=6390)
EMBEDDED_MONGO_PORT = env.int("EMBEDDED_MONGO_PORT", default=27027)
