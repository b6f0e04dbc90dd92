"""The services behind the HTTP layer (shells, files, MCP servers, secrets redaction) and the
bearer-token check; one App per server."""

from __future__ import annotations

import hmac
import threading

from . import models
from .config import Settings
from .files import FileService
from .mcp import McpManager
from .paths import PathPolicy
from .redact import Redactor
from .shellenv import shell_env
from .shells import ShellManager


class App:
    """Everything a request handler needs; one per server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policy = PathPolicy(settings.root, settings.home)
        self.files = FileService(self.policy)
        self.shells = ShellManager(settings, self.policy)
        self.mcp = McpManager(settings, shell_env(settings))
        self.redactor = Redactor({})
        self._token = settings.token.encode("utf-8")
        self._refused_lock = threading.Lock()
        self.refused = 0  # requests turned away for a missing or wrong token, since start

    def set_env(self, req: models.EnvSetRequest) -> models.EnvSetResult:
        # The values are secrets: every response from now on is redacted of them.
        self.redactor = Redactor(dict(req.env))
        restarted = self.shells.set_env(dict(req.env))
        return models.EnvSetResult(names=sorted(req.env), shells_restarted=restarted)

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer ") :].strip().encode("utf-8"), self._token)

    def count_refused(self) -> int:
        with self._refused_lock:
            self.refused += 1
            return self.refused
