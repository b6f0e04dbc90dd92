"""TLS deployment: secure cookies, HSTS, the proxy's scheme header, the CSP middleware.

Everything follows from `PUBLIC_BASE_URL`: when it is https, cookies are Secure and browsers
are told (HSTS) to use https only. Behind a TLS-terminating proxy, set
`DJANGO_SECURE_PROXY_SSL_HEADER=true` so Django believes the proxy's `X-Forwarded-Proto: https`
— only when the proxy always sets (or strips) that header, else a client could claim https.
"""

from urllib.parse import urlsplit

from .base import CSRF_TRUSTED_ORIGINS
from .env import env
from .jobs import PUBLIC_BASE_URL

PUBLIC_HTTPS = PUBLIC_BASE_URL.lower().startswith("https://")

SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=PUBLIC_HTTPS)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=PUBLIC_HTTPS)
# HttpOnly session cookie (base.py); the CSRF cookie stays readable: the web app sends it back
# in X-CSRFToken (Django: HttpOnly there adds no protection).
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if PUBLIC_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False) else None
)
SECURE_REFERRER_POLICY = "same-origin"

# The public origin is where the browser's forms and WebSockets come from.
if PUBLIC_BASE_URL:
    _public = urlsplit(PUBLIC_BASE_URL)
    _origin = f"{_public.scheme}://{_public.netloc}"
    if _origin not in CSRF_TRUSTED_ORIGINS:
        CSRF_TRUSTED_ORIGINS = [*CSRF_TRUSTED_ORIGINS, _origin]
