from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, Response

from effigies.api.deps import CurrentUser, SessionDep
from effigies.api.openapi import errors
from effigies.avatars import service
from effigies.avatars.schemas import AvatarOut, EmailLinkIn, EmailLinkOut, PurchaseIn, PurchaseOut
from effigies.billing import checkout

router = APIRouter(tags=["avatars"])


@router.post(
    "/api/candidates/{candidate_id}/purchase", status_code=201, response_model=PurchaseOut,
    responses=errors(402, 409, 410, 422),
)
def purchase(
    candidate_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    body: PurchaseIn | None = None,
    # Checked by billing.idempotency (its own error); the pattern tells clients what it accepts.
    idempotency_key: Annotated[
        str | None, Header(max_length=255, json_schema_extra={"pattern": r"^[\x21-\x7e]{1,255}$"})
    ] = None,
):
    result = checkout.purchase(
        session=session, user_id=user.id, candidate_id=candidate_id, idempotency_key=idempotency_key,
        withdrawal_waiver=bool(body and body.withdrawal_waiver),
    )
    # A replay answers with the status and body the first request got, read back from the database.
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(result.body, status_code=result.status, headers=headers)


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


def _link_out(link: service.EmailLink) -> EmailLinkOut:
    return EmailLinkOut(avatar_public_id=link.public_id, url=service.hash_url(link.sha256), created_at=link.created_at)


@router.get("/api/me/avatar-links", response_model=list[EmailLinkOut])
def my_email_links(user: CurrentUser, session: SessionDep):
    return [_link_out(link) for link in service.email_links(session=session, user_id=user.id, email=user.email)]


@router.put("/api/me/avatar-links", response_model=EmailLinkOut, responses=errors(404, 409))
def link_my_email(body: EmailLinkIn, user: CurrentUser, session: SessionDep):
    """The account's verified address answers with this avatar at /avatar/{md5 or sha256}."""
    return _link_out(service.link_email(session=session, user_id=user.id, email=user.email,
                                        email_verified=user.email_verified, public_id=body.avatar_public_id))


@router.delete("/api/me/avatar-links", status_code=204)
def unlink_my_email(user: CurrentUser, session: SessionDep):
    service.unlink_email(session=session, user_id=user.id)
    return Response(status_code=204)


# GET/HEAD /a/{public_id}.png and /avatar/{hash} are served before routing, by effigies.avatars.public.
