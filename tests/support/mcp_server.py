"""A real MCP server built on the `mcp` SDK, for the MCP tests: `add` adds numbers, `swatch`
returns a PNG image, `fail` raises, `env` reads an environment variable, `slow` sleeps.

Run as a stdio server (`python tests/support/mcp_server.py`) — inside a sandbox, the tool API
starts it — or over streamable HTTP (`--http PORT`), as the tests do on loopback.
"""

from __future__ import annotations

import os
import struct
import sys
import time
import zlib

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image

server = MCPServer("anker-test-tools")


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@server.tool()
def add(a: float, b: float) -> str:
    """Add two numbers."""
    total = a + b
    return str(int(total) if total == int(total) else total)


@server.tool()
def swatch(red: int, green: int, blue: int) -> Image:
    """A 4x4 PNG of one colour."""
    return Image(data=_png(4, 4, (red, green, blue)), format="png")


@server.tool()
def fail(reason: str) -> str:
    """Always fails with `reason`."""
    raise ToolError(reason)


@server.tool()
def env(name: str) -> str:
    """The value of an environment variable of the server's process."""
    return os.environ.get(name, "(unset)")


@server.tool()
def slow(seconds: float) -> str:
    """Sleep, then answer."""
    time.sleep(seconds)
    return "woke up"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
