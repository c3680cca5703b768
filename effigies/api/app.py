"""The application factory: API routers, error mapping, security middleware, static frontend."""
from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from effigies.accounts.addresses_router import router as addresses_router
from effigies.accounts.router import router as accounts_router
from effigies.api import errors, openapi, pages, system
from effigies.api.deps import require_admin
from effigies.api.security import DOCS_PATH, SecurityMiddleware
from effigies.avatars.public import PublicAvatars
from effigies.avatars.router import router as avatars_router
from effigies.billing.router import router as billing_router
from effigies.certificates.router import router as certificates_router
from effigies.config import get_settings
from effigies.generation.router import router as generation_router
from effigies.legal.router import router as legal_router
from effigies.mail.router import router as mail_router
from effigies.monitoring.http import HttpMetrics
from effigies.monitoring.router import admin_router as monitoring_admin_router
from effigies.monitoring.router import router as monitoring_router
from effigies.privacy.router import router as privacy_router
from effigies.support.router import router as support_router
from effigies.themes.admin_router import router as themes_admin_router
from effigies.themes.router import router as themes_router
from effigies.training.router import router as training_admin_router

FRONTEND_DIR = Path(__file__).resolve().parents[2] / "frontend"


def create_app() -> FastAPI:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Request bodies are limited by SecurityMiddleware (declared and received bytes, JSON 413), not
    # by FastAPI's max_body_size: that one answers a declared oversize in plain text, whatever
    # the app would have said.
    # The Swagger UI page loads its assets from a CDN: for local work only, off in production
    # (the API's description stays at /openapi.json).
    settings = get_settings()
    docs_url = DOCS_PATH if settings.is_local else None
    app = FastAPI(title="Effigies Edification", version="0.1.0", docs_url=docs_url, openapi_url="/openapi.json")
    errors.install(app)
    app.add_middleware(SecurityMiddleware)
    # Added last, so outermost: the public avatar URL skips CSRF, cookies and routing entirely.
    app.add_middleware(PublicAvatars, cache_bytes=settings.avatar_cache_mb * 1_000_000,
                       renders=settings.avatar_renders, render_queue=settings.avatar_render_queue)
    # Outside even that, so public avatars are counted too (in memory only: effigies.monitoring.http).
    app.add_middleware(HttpMetrics)

    for router in (system.router, accounts_router, addresses_router, themes_router, generation_router, billing_router,
                   avatars_router, certificates_router, monitoring_router, mail_router, privacy_router, legal_router):
        app.include_router(router)

    # Deny by default: every admin route sits behind this one dependency.
    admin = APIRouter(prefix="/api/admin", dependencies=[Depends(require_admin)])
    admin.include_router(support_router)
    admin.include_router(themes_admin_router)
    admin.include_router(training_admin_router)
    admin.include_router(monitoring_admin_router)
    app.include_router(admin)
    app.include_router(pages.router)  # /login, /wallet...: redirects to the frontend's pages
    # After every router (keep it last): declares the shared error statuses in /openapi.json.
    openapi.document_errors(app)

    if FRONTEND_DIR.is_dir():
        app.mount("/", StaticFiles(directory=FRONTEND_DIR, html=True), name="frontend")
    return app
