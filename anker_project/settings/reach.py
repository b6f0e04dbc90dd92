"""What the agent may reach: MCP servers, per-tool approvals, users' secrets."""

from .env import env

# Streamable-HTTP MCP servers are called from the worker: like webhooks, only public addresses
# unless this allows private ones (a server on the operator's own network, the tests' loopback).
MCP_ALLOW_PRIVATE_TARGETS = env.bool("MCP_ALLOW_PRIVATE_TARGETS", default=False)
MCP_CONNECT_TIMEOUT_SECONDS = env.float("MCP_CONNECT_TIMEOUT_SECONDS", default=30.0)  # start + handshake
MCP_CALL_TIMEOUT_SECONDS = env.float("MCP_CALL_TIMEOUT_SECONDS", default=120.0)  # one tool call
# Tool lists are cached per server definition, so a turn with MCP configured starts no server
# (and makes no request) until the model calls one of its tools.
MCP_TOOLS_CACHE_SECONDS = env.int("MCP_TOOLS_CACHE_SECONDS", default=300)
MCP_MAX_SERVERS_PER_TURN = env.int("MCP_MAX_SERVERS_PER_TURN", default=8)
MCP_MAX_IMAGE_BYTES = env.int("MCP_MAX_IMAGE_BYTES", default=2 * 1024 * 1024)

# Fernet key (urlsafe base64 of 32 bytes) that encrypts users' secrets at rest. Empty: derived
# from DJANGO_SECRET_KEY (rotating that key then makes stored secrets unreadable).
SECRETS_ENCRYPTION_KEY = env.str("SECRETS_ENCRYPTION_KEY", default="")
