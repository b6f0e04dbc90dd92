"""Are we in CI? Then a missing part (Docker, Chromium, a built image) fails instead of skipping."""

import os

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def in_ci() -> bool:
    """True when `CI` is set to a true value: `CI=true` (GitHub, .ci/run) as well as `CI=1`."""
    return os.environ.get("CI", "").strip().lower() in TRUE_VALUES
