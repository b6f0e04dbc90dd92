"""python3 -m toolapi --host 0.0.0.0 --port 8080

Needs TOOLAPI_TOKEN. Prints "toolapi listening on http://HOST:PORT" (or
"unix://PATH" with --unix-socket PATH) once the socket is bound; with --port 0
the kernel picks the port: read it from that line.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from .config import ConfigError, load_settings
from .server import App, ToolApiServer, ToolApiUnixServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="toolapi", description="Anker sandbox tool API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("TOOLAPI_PORT", "8080")))
    parser.add_argument("--unix-socket", help="listen on this unix socket instead of TCP")
    parser.add_argument("--log-level", default=os.environ.get("TOOLAPI_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"toolapi: {exc}", file=sys.stderr)
        return 2

    redact = _Redact(settings.token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)

    app = App(settings)
    egress_socket = os.environ.get("TOOLAPI_EGRESS_SOCKET")
    if egress_socket:  # the local backend's way out (see egress.py)
        from .egress import start_forwarder

        start_forwarder(int(os.environ.get("TOOLAPI_EGRESS_PORT") or 3128), egress_socket)
    server: ToolApiServer | ToolApiUnixServer
    if args.unix_socket:
        server = ToolApiUnixServer(args.unix_socket, app)
        where = f"unix://{args.unix_socket}"
    else:
        server = ToolApiServer((args.host, args.port), app)
        where = f"http://{server.server_address[0]!s}:{server.server_address[1]}"

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns, so not on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    logging.getLogger("toolapi").info(
        "root=%s home=%s services=%s", settings.root, settings.home,
        ",".join(sorted(settings.expected_services)) or "-",
    )  # fmt: skip
    print(f"toolapi listening on {where}", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        app.shells.close_all()
        app.mcp.close_all()
    return 0


class _Redact(logging.Filter):
    """Last line of defence: no log line may carry the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg = message.replace(self.token, "[token]")
            record.args = None
        return True


if __name__ == "__main__":
    sys.exit(main())
