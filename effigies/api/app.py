"""The application factory: API routers, error mapping, security middleware, static frontend."""
from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from effigies.accounts.router import router as accounts_router
from effigies.api import errors, system
from effigies.api.deps import require_admin
from effigies.api.security import SecurityMiddleware
from effigies.avatars.router import router as avatars_router
from effigies.billing.router import admin_router as billing_admin_router
from effigies.billing.router import router as billing_router
from effigies.certificates.router import router as certificates_router
from effigies.generation.router import router as generation_router
from effigies.themes.router import router as themes_router

FRONTEND_DIR = Path(__file__).resolve().parents[2] / "frontend"


def create_app() -> FastAPI:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = FastAPI(title="Effigies Edification", version="0.1.0", docs_url="/api/docs", openapi_url="/openapi.json")
    errors.install(app)
    app.add_middleware(SecurityMiddleware)

    for router in (system.router, accounts_router, themes_router, generation_router, billing_router, avatars_router,
                   certificates_router):
        app.include_router(router)

    # Deny by default: every admin route sits behind this one dependency.
    admin = APIRouter(prefix="/api/admin", dependencies=[Depends(require_admin)])
    admin.include_router(billing_admin_router)
    app.include_router(admin)

    if FRONTEND_DIR.is_dir():
        app.mount("/", StaticFiles(directory=FRONTEND_DIR, html=True), name="frontend")
    return app
