from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from effigies.api.deps import CurrentUser, SessionDep
from effigies.db import utcnow
from effigies.privacy import service
from effigies.privacy.schemas import DataExport

router = APIRouter(prefix="/api", tags=["privacy"])


@router.get("/me/export", response_model=DataExport)
def export_my_data(user: CurrentUser, session: SessionDep):
    """Everything kept about the logged-in person, as a JSON file to download."""
    body = service.export_data(session=session, user_id=user.id).model_dump_json(indent=2)
    name = f"effigies-data-{utcnow():%Y-%m-%d}.json"
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
    })
