"""Confinement of every path the API touches to TOOLAPI_ROOT."""

from __future__ import annotations

import os

from .errors import bad_request, forbidden


class PathPolicy:
    """Resolves client paths (absolute, or relative to home) with realpath, so
    ``..`` and symlinks are followed before the check, and refuses anything
    that lands outside the root."""

    def __init__(self, root: str, home: str) -> None:
        self.root = os.path.realpath(root)
        self.home = home

    def resolve(self, path: str) -> str:
        if "\x00" in path:
            raise bad_request("path contains a NUL byte")
        if path == "~" or path.startswith("~/"):
            path = self.home + path[1:]
        joined = os.path.join(self.home, path)
        resolved = os.path.realpath(joined)
        if not self.contains(resolved):
            raise forbidden(f"path {path!r} is outside the sandbox root {self.root}")
        return resolved

    def contains(self, resolved: str) -> bool:
        return resolved == self.root or os.path.commonpath([resolved, self.root]) == self.root
