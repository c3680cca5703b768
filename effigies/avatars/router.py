from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse, Response

from effigies.accounts import addresses
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


def _addresses(session, user) -> dict[str, uuid.UUID | None]:
    """The caller's addresses that may show an avatar, each with its id (None: the account's own)."""
    verified = [a for a in addresses.list_addresses(session=session, user_id=user.id) if a.verified_at is not None]
    return {user.email: None, **{a.email: a.id for a in verified}}


def _link_out(link: service.EmailLink, ids: dict[str, uuid.UUID | None]) -> EmailLinkOut:
    by_hash = {service.address_hashes(email)[1]: address_id for email, address_id in ids.items()}
    return EmailLinkOut(address_id=by_hash.get(link.sha256), avatar_public_id=link.public_id,
                        url=service.hash_url(link.sha256), created_at=link.created_at)


@router.get("/api/me/avatar-links", response_model=list[EmailLinkOut])
def my_email_links(user: CurrentUser, session: SessionDep):
    """Which of the caller's addresses (own and extra) show which avatar."""
    ids = _addresses(session, user)
    return [_link_out(link, ids) for link in service.email_links(session=session, user_id=user.id, emails=list(ids))]


@router.put("/api/me/avatar-links", response_model=EmailLinkOut, responses=errors(404, 409))
def link_my_email(body: EmailLinkIn, user: CurrentUser, session: SessionDep):
    """A verified address of the caller's (the account's own without address_id) answers with
    this avatar at /avatar/{md5 or sha256}."""
    if body.address_id is None:
        email, verified = user.email, user.email_verified
    else:  # 404 unless the caller's, 409 until verified
        email, verified = addresses.verified_email(session=session, user_id=user.id, address_id=body.address_id), True
    link = service.link_email(session=session, user_id=user.id, email=email, email_verified=verified,
                              public_id=body.avatar_public_id)
    return _link_out(link, {email: body.address_id})


@router.delete("/api/me/avatar-links", status_code=204, responses=errors(404))
def unlink_my_email(user: CurrentUser, session: SessionDep, address_id: uuid.UUID | None = None):
    """The address (the account's own without address_id) shows no avatar any more."""
    email = user.email if address_id is None else addresses.get_address(
        session=session, user_id=user.id, address_id=address_id).email
    service.unlink_email(session=session, user_id=user.id, email=email)
    return Response(status_code=204)


# GET/HEAD /a/{public_id}.png and /avatar/{hash} are served before routing, by effigies.avatars.public.
