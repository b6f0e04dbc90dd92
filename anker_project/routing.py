"""One URL, one view per operation: `path("sessions/<id>", methods(get=SessionGetApi.as_view(), ...))`.

The house style writes each API operation as its own DRF view (STYLE.md 4), while a REST URL
serves several methods. `methods()` routes a request to the view of its method and answers
exactly as one DRF view serving all of them did:

- every response carries `Allow` with the URL's methods in DRF's order (HEAD with GET, and
  OPTIONS always), as DRF's `APIView.default_response_headers` did;
- HEAD goes to the GET view (Django's `View.setup` maps it to `get`);
- OPTIONS and any method no view serves go to the first view (in the order get, post, put,
  patch, delete), so authentication, CSRF, permissions and throttles run before DRF's 405
  envelope, as they did before (the views of one URL share those classes);
- the router is `csrf_exempt` like DRF's views: `SessionAuthentication` enforces CSRF itself,
  for cookie logins only.

drf-spectacular documents each method from its own view (`anker_project/schema.py`
expands the router through `method_views`), so operation ids and paths stay as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase
from django.views import View

ApiView = Callable[..., HttpResponseBase]


class MethodRouter:
    """The URL's view: hands each request to the view of its method (see the module doc)."""

    csrf_exempt = True  # as DRF's `APIView.as_view()` is

    def __init__(self, views: dict[str, ApiView]) -> None:
        if not views:
            raise ImproperlyConfigured("methods() needs at least one view")
        self.method_views = views
        self.fallback = next(iter(views.values()))
        allowed = [
            method.upper()
            for method in View.http_method_names
            if method in views or (method == "head" and "get" in views) or method == "options"
        ]
        self.allow = ", ".join(allowed)
        # Django's URL resolver names a callback by its `__qualname__` (reverse() populates them).
        self.__name__ = self.__qualname__ = "methods_" + "_".join(views)

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        method = (request.method or "").lower()
        view = self.method_views.get("get" if method == "head" else method, self.fallback)
        response = view(request, *args, **kwargs)
        response["Allow"] = self.allow
        return response


def methods(
    *,
    get: ApiView | None = None,
    post: ApiView | None = None,
    put: ApiView | None = None,
    patch: ApiView | None = None,
    delete: ApiView | None = None,
) -> MethodRouter:
    """Route one URL's methods to one view each: `methods(get=XGetApi.as_view(), put=XUpdateApi.as_view())`.
    The first of them (get, post, put, patch, delete) also answers OPTIONS and methods none
    of them serves (DRF's 405)."""
    given = {"get": get, "post": post, "put": put, "patch": patch, "delete": delete}
    views: dict[str, ApiView] = {method: view for method, view in given.items() if view is not None}
    for method, view in views.items():
        if not hasattr(view, "cls"):
            raise ImproperlyConfigured(f"methods({method}=...) takes a DRF view's as_view()")
    return MethodRouter(views)
