"""Addresses people type or paste: /login, /wallet, /themes/galactic-droids... The frontend routes on
the URL fragment (#/login), so each of these answers a redirect to its page instead of a JSON 404.
The query string rides along (/password/reset?token=... opens the reset page with its token)."""
from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

router = APIRouter(include_in_schema=False)

# The frontend's routes (frontend/js/app.js ROUTES) but the home page and /verify/<id>
# (effigies.certificates.router). A slug that is no theme's opens the frontend's "not found".
PATHS = ("/login", "/signup", "/wallet", "/avatars", "/account", "/mail", "/verify", "/password/forgot",
         "/password/reset", "/email/verify", "/admin", "/admin/stats", "/admin/support",
         "/admin/themes/{slug}/training", "/themes/{slug}", "/themes/{slug}/learn", "/legal/{page}")


def _to_page(request: Request) -> RedirectResponse:
    path = request.url.path.rstrip("/")
    target = "/#" + quote(path, safe="/-")
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(target, status_code=302)


for _path in PATHS:
    router.add_api_route(_path, _to_page, methods=["GET"])
    router.add_api_route(_path + "/", _to_page, methods=["GET"])
