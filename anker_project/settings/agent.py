"""The model provider and the agent's limits. The seeds' variable names are honoured."""

import json
import sys

from django.core.exceptions import ImproperlyConfigured

from .env import BASE_DIR, DATA_DIR, env, env_or

LLM_PROVIDER = env_or("LLM_PROVIDER", "openai")  # openai | openrouter | compatible
API_BASE = env.str("API_BASE", default="")
API_KEY = env.str("API_KEY", default="")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENROUTER_API_KEY = env.str("OPENROUTER_API_KEY", default="")
MODEL_NAME = env_or("MODEL_NAME", env_or("MODEL_ID", "gpt-4o"))
TEMPERATURE = env.float("TEMPERATURE", default=0.7)
MAX_TOKENS = env.int("MAX_TOKENS", default=2000)
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=120.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=3)
LLM_RETRY_BASE_SECONDS = env.float("LLM_RETRY_BASE_SECONDS", default=1.0)
# The models users may pick per session or job, besides MODEL_NAME (the default), as a JSON list:
# [{"name": "claude", "provider": "openrouter", "base_url": "", "key_env": "OPENROUTER_API_KEY",
#   "model": "anthropic/claude-sonnet-4"}]; `model` (the provider's id) defaults to `name`.
_llm_models = env.str("LLM_MODELS", default="").strip()
try:
    LLM_MODELS = json.loads(_llm_models) if _llm_models else []
except ValueError as _exc:
    raise ImproperlyConfigured(f"LLM_MODELS is not valid JSON ({_exc}); it must be a JSON list of models.") from None
if not isinstance(LLM_MODELS, list):
    raise ImproperlyConfigured("LLM_MODELS must be a JSON list of {name, provider, base_url, key_env, model}.")

GOOGLE_SEARCH_API_KEY = env.str("GOOGLE_SEARCH_API_KEY", default="")
GOOGLE_SEARCH_ENGINE_ID = env.str("GOOGLE_SEARCH_ENGINE_ID", default="")

AGENT_MAX_STEPS = env.int("AGENT_MAX_STEPS", default=50)
TURN_DEADLINE_SECONDS = env.int("TURN_DEADLINE_SECONDS", default=3600)
CHAT_HISTORY_MESSAGES = env.int("CHAT_HISTORY_MESSAGES", default=40)

SANDBOX_BACKEND = env_or("SANDBOX_BACKEND", "local")  # docker | local | attached (tests, benchmarks)
SANDBOX_IMAGE = env_or("SANDBOX_IMAGE", "anker-sandbox:latest")
SANDBOX_NAME_PREFIX = env_or("SANDBOX_NAME_PREFIX", "anker-sandbox")
# Docker backend: a missing SANDBOX_IMAGE is built from sandbox-image/ by the first sandbox request
# (one build at a time across workers), FROM SANDBOX_BASE_IMAGE (sandbox-image/build.sh makes the
# local anker-base:bookworm; "debian:bookworm-slim" where a registry is reachable).
SANDBOX_IMAGE_AUTOBUILD = env.bool("SANDBOX_IMAGE_AUTOBUILD", default=True)
SANDBOX_BASE_IMAGE = env_or("SANDBOX_BASE_IMAGE", env_or("ANKER_BASE_IMAGE", "anker-base:bookworm"))
SANDBOX_IMAGE_CONTEXT = env_or("SANDBOX_IMAGE_CONTEXT", str(BASE_DIR / "sandbox-image"))
SANDBOX_IMAGE_BUILD_TIMEOUT_SECONDS = env.int("SANDBOX_IMAGE_BUILD_TIMEOUT_SECONDS", default=1800)
# Extra CA certificates the build trusts (a TLS-intercepting proxy's), as build.sh does; "" for none.
SANDBOX_BUILD_CA_BUNDLE = env.str("HOST_CA_BUNDLE", default="/etc/ssl/certs/ca-certificates.crt")
SANDBOX_TTL_MINUTES = env.int("SANDBOX_TTL_MINUTES", default=30)
# The Docker network sandboxes run on (created internal, inter-container traffic off, when missing).
SANDBOX_NETWORK = env.str("SANDBOX_NETWORK", default="") or "anker-sandboxes"
SANDBOX_POOL_SIZE = env.int("SANDBOX_POOL_SIZE", default=0)
# A leased sandbox idle this long hibernates: its processes stop (the desktop too), its workspace
# stays, and the next turn wakes it. 0 disables. A timer per sandbox, armed when its session stops
# using it; beat's sweep (SANDBOX_IDLE_SWEEP_SECONDS) is the safety net.
SANDBOX_IDLE_STOP_MINUTES = env.float("SANDBOX_IDLE_STOP_MINUTES", default=0.5)

# Agent mode (agents/agent/, agents/tools/).
AGENT_CONTEXT_TOKENS = env.int("AGENT_CONTEXT_TOKENS", default=32000)  # memory is compacted to fit this
AGENT_TOOL_OUTPUT_CHARS = env.int("AGENT_TOOL_OUTPUT_CHARS", default=8000)  # per tool result given to the model
AGENT_BROWSER_TEXT_CHARS = env.int("AGENT_BROWSER_TEXT_CHARS", default=6000)
AGENT_BROWSER_ELEMENTS = env.int("AGENT_BROWSER_ELEMENTS", default=150)
# On a stop, how long a running sandbox command gets after Ctrl-C (SIGINT) before it is killed.
AGENT_STOP_GRACE_SECONDS = env.float("AGENT_STOP_GRACE_SECONDS", default=3.0)
AGENT_TEXT_NUDGES = env.int("AGENT_TEXT_NUDGES", default=2)  # text answers tolerated where a tool call is required

# Web search for `info_search_web`: google | bing | brave | tavily | searxng | api (generic JSON);
# empty = google when its key and engine id are set, else no search tool.
SEARCH_PROVIDER = env.str("SEARCH_PROVIDER", default="")
SEARCH_TIMEOUT_SECONDS = env.float("SEARCH_TIMEOUT_SECONDS", default=15.0)
SEARCH_MAX_RESULTS = env.int("SEARCH_MAX_RESULTS", default=8)
GOOGLE_SEARCH_BASE_URL = env.str("GOOGLE_SEARCH_BASE_URL", default="https://www.googleapis.com/customsearch/v1")
BING_SEARCH_API_KEY = env.str("BING_SEARCH_API_KEY", default="")
BING_SEARCH_BASE_URL = env.str("BING_SEARCH_BASE_URL", default="https://api.bing.microsoft.com/v7.0/search")
BRAVE_SEARCH_API_KEY = env.str("BRAVE_SEARCH_API_KEY", default="")
BRAVE_SEARCH_BASE_URL = env.str("BRAVE_SEARCH_BASE_URL", default="https://api.search.brave.com/res/v1/web/search")
TAVILY_API_KEY = env.str("TAVILY_API_KEY", default="")
TAVILY_BASE_URL = env.str("TAVILY_BASE_URL", default="https://api.tavily.com/search")
SEARXNG_BASE_URL = env.str("SEARXNG_BASE_URL", default="")  # e.g. http://searxng:8080/search
SEARCH_API_URL = env.str("SEARCH_API_URL", default="")  # generic: GET ?q= -> {results: [{title, url, snippet}]}
SEARCH_API_KEY = env.str("SEARCH_API_KEY", default="")  # sent as a Bearer token to SEARCH_API_URL

# Files (sessions/files.py).
FILE_UPLOAD_MAX_BYTES = env.int("FILE_UPLOAD_MAX_BYTES", default=50 * 1024 * 1024)

# Sandboxes (sandboxes/), continued. Resource limits of a Docker sandbox (the image's README measured ~300 MiB idle).
SANDBOX_MEMORY_LIMIT = env_or("SANDBOX_MEMORY_LIMIT", "2g")
SANDBOX_CPUS = env.float("SANDBOX_CPUS", default=1.5)
SANDBOX_PIDS_LIMIT = env.int("SANDBOX_PIDS_LIMIT", default=512)
SANDBOX_SHM_SIZE = env_or("SANDBOX_SHM_SIZE", "1g")
# The tool API's TOOLAPI_ROOT in a Docker sandbox: "/" lets the agent use the whole container.
SANDBOX_DOCKER_TOOLAPI_ROOT = env_or("SANDBOX_DOCKER_TOOLAPI_ROOT", "/")
SANDBOX_START_TIMEOUT_SECONDS = env.float("SANDBOX_START_TIMEOUT_SECONDS", default=60.0)
# Local backend: workspaces under this directory; refuses to run without bubblewrap unless allowed.
SANDBOX_LOCAL_DIR = env_or("SANDBOX_LOCAL_DIR", str(DATA_DIR / "sandboxes"))
SANDBOX_LOCAL_ALLOW_UNJAILED = env.bool("SANDBOX_LOCAL_ALLOW_UNJAILED", default=False)
SANDBOX_LOCAL_PYTHON = env_or("SANDBOX_LOCAL_PYTHON", sys.executable)
# The local backend's desktop (Xvfb, Chromium with CDP, x11vnc, websockify in the jail): "auto"
# runs it when the host has the programs, "on" refuses to start a sandbox without it, "off" never.
SANDBOX_LOCAL_DESKTOP = env.str("SANDBOX_LOCAL_DESKTOP", default="auto").strip().lower()
if SANDBOX_LOCAL_DESKTOP not in ("auto", "on", "off"):
    raise ImproperlyConfigured(f"SANDBOX_LOCAL_DESKTOP must be auto, on or off, not {SANDBOX_LOCAL_DESKTOP!r}")
# The local backend's network: "proxy" (the jail reaches public addresses through Anker's egress
# proxy: HTTP and HTTPS, never loopback or private ones) or "none".
SANDBOX_LOCAL_NETWORK = env.str("SANDBOX_LOCAL_NETWORK", default="proxy").strip().lower()
if SANDBOX_LOCAL_NETWORK not in ("proxy", "none"):
    raise ImproperlyConfigured(f"SANDBOX_LOCAL_NETWORK must be proxy or none, not {SANDBOX_LOCAL_NETWORK!r}")
# Let the egress proxy reach loopback and private addresses too (tests, trusted networks only).
SANDBOX_EGRESS_ALLOW_PRIVATE = env.bool("SANDBOX_EGRESS_ALLOW_PRIVATE", default=False)
# Docker sandboxes' way out: "" = an egress proxy served by the worker on SANDBOX_NETWORK's
# gateway (the worker runs on the Docker host); "host:port" = the egress-proxy service; "none".
SANDBOX_EGRESS_PROXY = env.str("SANDBOX_EGRESS_PROXY", default="").strip()
# Ports CONNECT tunnels (HTTPS) may reach, comma-separated; "*" (None here) for every port.
_connect_ports = env.str("SANDBOX_EGRESS_CONNECT_PORTS", default="443").strip()
try:
    SANDBOX_EGRESS_CONNECT_PORTS = (
        None if _connect_ports == "*" else [int(p) for p in _connect_ports.split(",") if p.strip()]
    )
except ValueError as _exc:
    raise ImproperlyConfigured(
        f"SANDBOX_EGRESS_CONNECT_PORTS must be ports like 443,8443 or *, not {_connect_ports!r}"
    ) from _exc
# Limits of one local jail (sandboxes/backends/jail_limits.py): cgroups where writable, else prlimit.
SANDBOX_LOCAL_PIDS_LIMIT = env.int("SANDBOX_LOCAL_PIDS_LIMIT", default=512)
SANDBOX_LOCAL_MEMORY_LIMIT = env_or("SANDBOX_LOCAL_MEMORY_LIMIT", "2g")
SANDBOX_LOCAL_CPUS = env.float("SANDBOX_LOCAL_CPUS", default=1.0)
SANDBOX_LOCAL_NICE = env.int("SANDBOX_LOCAL_NICE", default=10)
SANDBOX_LOCAL_CGROUPS = env.bool("SANDBOX_LOCAL_CGROUPS", default=True)  # false: prlimit only
# One sandbox's egress proxy: connections open at once, and seconds without a byte either way
# after which a connection is closed.
SANDBOX_EGRESS_MAX_CONNECTIONS = env.int("SANDBOX_EGRESS_MAX_CONNECTIONS", default=64)
SANDBOX_EGRESS_IDLE_SECONDS = env.float("SANDBOX_EGRESS_IDLE_SECONDS", default=120.0)
SANDBOX_TOOLAPI_SOURCE = env_or("SANDBOX_TOOLAPI_SOURCE", str(BASE_DIR / "sandbox-image"))
SANDBOX_VNC_TICKET_SECONDS = env.int("SANDBOX_VNC_TICKET_SECONDS", default=60)
