"""`python manage.py sandbox_egress_proxy --host sandbox-egress --port 3128`: the Docker
sandboxes' way out as its own process (the compose `egress-proxy` service). The same policy as a
local jail's proxy (`sandboxes/egress.py`): resolve, check that every address is public, connect
to the checked address; SANDBOX_EGRESS_CONNECT_PORTS and SANDBOX_EGRESS_ALLOW_PRIVATE apply.
Workers point sandboxes at it with SANDBOX_EGRESS_PROXY=host:port."""

from __future__ import annotations

import signal
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from sandboxes.egress import SHARED_MAX_CONNECTIONS, EgressProxy


class Command(BaseCommand):
    help = "Serve the Docker sandboxes' egress proxy (public addresses only) until stopped."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--host", default="0.0.0.0", help="address (or name) to listen on: the sandbox network's side"
        )
        parser.add_argument("--port", type=int, default=3128)

    def handle(self, *args: Any, **options: Any) -> None:
        ports = settings.SANDBOX_EGRESS_CONNECT_PORTS
        proxy = EgressProxy(
            tcp_address=(options["host"], options["port"]),
            allow_private=settings.SANDBOX_EGRESS_ALLOW_PRIVATE,
            connect_ports=None if ports is None else frozenset(ports),
            max_connections=SHARED_MAX_CONNECTIONS,
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            proxy.close()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        host, port = proxy.address
        self.stdout.write(f"sandbox egress proxy listening on {host}:{port}", ending="\n")
        self.stdout.flush()
        proxy.serve_forever()
