from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from effigies.api.deps import CurrentUser, SessionDep
from effigies.avatars import service
from effigies.avatars.schemas import AvatarOut, AvatarRef, PurchaseOut

router = APIRouter(tags=["avatars"])


@router.post("/api/candidates/{candidate_id}/purchase", status_code=201, response_model=PurchaseOut)
def purchase(candidate_id: uuid.UUID, user: CurrentUser, session: SessionDep):
    avatar = service.purchase(session=session, user_id=user.id, candidate_id=candidate_id)
    session.commit()
    return PurchaseOut(avatar=AvatarRef(public_id=avatar.public_id, url=service.public_url(avatar.public_id)))


@router.get("/api/me/avatars", response_model=list[AvatarOut])
def my_avatars(user: CurrentUser, session: SessionDep):
    return [
        AvatarOut(
            public_id=a.public_id,
            url=service.public_url(a.public_id),
            theme_slug=t.slug,
            theme_name=t.name,
            created_at=a.created_at,
        )
        for a, t in service.list_owned(session=session, user_id=user.id)
    ]


@router.get("/a/{public_id}.png", response_class=FileResponse)
def public_avatar(
    public_id: str,
    request: Request,
    session: SessionDep,
    s: Annotated[int, Query(ge=service.MIN_SIZE, le=service.MAX_SIZE, description="size in pixels")] = 256,
):
    path = service.scaled_image(session=session, public_id=public_id, size=s)
    # A sold avatar never changes: the URL may be cached forever, anywhere.
    etag = f'"{public_id}-{s}"'
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type="image/png", headers=headers)
