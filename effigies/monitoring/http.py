"""ASGI middleware counting and timing every HTTP request, in memory (effigies.monitoring.metrics).

Outermost in the app, so the public avatar URL (answered before routing, ~10k requests/s) is
counted too: 2.3 us of CPU per request over a bare ASGI app (measured on the shared 2 cores),
memory only, no I/O.
Requests are labelled by route template, never by path: /api/themes/{slug}, not one series per
theme, and anything no route matched (scanners' made-up paths) shares one label.
"""
from __future__ import annotations

from time import perf_counter

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from effigies.avatars.public import HASH_PREFIX, HASH_ROUTE, PREFIX, ROUTE
from effigies.monitoring.metrics import RECORDER, Labels

PUBLIC_AVATAR_ROUTE = ROUTE  # effigies.avatars.public answers every /a/... path itself
UNMATCHED = "(unmatched)"  # under /api/, no route: one series for every made-up path
FRONTEND = "(frontend)"  # the static files mounted at "/"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


def _templates(app) -> tuple[dict[int, str], list]:
    """(id(route) -> its full path template, the app's own plain routes). FastAPI >= 0.16x puts
    the route as declared in its router in scope["route"] (path "/stats", not
    "/api/admin/stats"), and nothing for the app's own routes (/openapi.json, /api/docs)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routes are copies that carry the full path
        return {}, []
    contexts = [c for c in iter_route_contexts(app.routes) if c.path_format]
    plain = [c.original_route for c in contexts if type(c.original_route) is Route]  # not APIRoute, not Mount
    return {id(c.original_route): c.path_format for c in contexts}, plain


class HttpMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[int, str] | None = None
        self._plain: list = []
        # Bounded: route templates x 8 methods x HTTP statuses.
        self._labels: dict[tuple[str, str, int], tuple[Labels, Labels]] = {}

    def route_label(self, scope: Scope) -> str:
        path = scope.get("path", "")
        if path.startswith(PREFIX):
            return PUBLIC_AVATAR_ROUTE
        if path.startswith(HASH_PREFIX):
            return HASH_ROUTE  # Gravatar-compatible lookups, answered there too
        if self._templates is None and "app" in scope:
            self._templates, self._plain = _templates(scope["app"])  # fixed once the app serves
        route = scope.get("route")
        if route is not None:
            return (self._templates or {}).get(id(route)) or getattr(route, "path", None) or FRONTEND
        for plain in self._plain:
            if plain.path_regex.match(path):
                return plain.path
        return UNMATCHED if path.startswith("/api/") else FRONTEND

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"  # any string may come in
            key = (self.route_label(scope), method, status)
            labels = self._labels.get(key)
            if labels is None:
                labels = self._labels[key] = _labels(*key)
            RECORDER.count_and_time(
                "ee_http_requests_total", labels[0], "ee_http_request_duration_seconds", labels[1],
                perf_counter() - started,
            )


def _labels(route: str, method: str, status: int) -> tuple[Labels, Labels]:
    """(the request counter's labels, the histogram's): built once per kind of request."""
    status_class = STATUS_CLASSES[min(max(status // 100, 1), 5) - 1]
    return (("route", route), ("method", method), ("status", status_class)), (("route", route), ("method", method))
