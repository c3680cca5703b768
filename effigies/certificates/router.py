from __future__ import annotations

import base64
import json

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from effigies.api.deps import CurrentUser, SessionDep
from effigies.avatars import service as avatars_service
from effigies.certificates import keys, service
from effigies.certificates.schemas import CertificateIn, KeySetOut, OwnershipOut, PublicKeyOut, VerificationOut
from effigies.errors import DomainError

router = APIRouter(tags=["certificates"])


def _verification_out(result: service.Verification) -> VerificationOut:
    facts = result.facts
    return VerificationOut(
        genuine=result.genuine,
        reason=result.reason,
        message=result.message,
        key_id=result.key.id if result.key else None,
        key_status=result.key.status if result.key else None,
        certificate=facts,
        image_url=avatars_service.public_url(facts.avatar_public_id) if facts else None,
        ownership=OwnershipOut(status=result.ownership, ended_at=result.ownership_ended_at) if result.ownership else None,
    )


@router.get("/api/avatars/{public_id}/certificate")
def download_certificate(public_id: str, user: CurrentUser, session: SessionDep):
    document = service.certificate(session=session, public_id=public_id, owner_id=user.id)
    return Response(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n",
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="effigies-{public_id}.json"',
            # Holds the owner's name: not for shared caches.
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/.well-known/effigies-signing-key", response_model=KeySetOut)
def signing_keys(response: Response):
    response.headers["Cache-Control"] = "public, max-age=300"
    return KeySetOut(
        keys=[
            PublicKeyOut(
                id=k.id, algorithm=keys.ALGORITHM, status=k.status,
                public_key=base64.b64encode(k.raw).decode("ascii"), pem=k.pem,
            )
            for k in keys.public_keys()
        ]
    )


@router.get("/api/verify/{public_id}", response_model=VerificationOut)
def verify_avatar(public_id: str, session: SessionDep):
    """The avatar's certificate as we would issue it now, checked against our published keys."""
    document = service.certificate(session=session, public_id=public_id)
    return _verification_out(service.with_ownership(service.verify(document, keys.public_keys()), session=session))


@router.post("/api/verify", response_model=VerificationOut)
def verify_document(body: CertificateIn, session: SessionDep):
    """200 with genuine true/false for anything shaped like a certificate; 422 for anything else.
    A genuine one also says whether its avatar still has an owner (ownership ended on …)."""
    result = service.verify(body.model_dump(), keys.public_keys())
    if result.reason == "malformed":
        raise DomainError("invalid_certificate", result.message, status=422)
    return _verification_out(service.with_ownership(result, session=session))


@router.get("/verify/{public_id}", include_in_schema=False)
def verify_page(public_id: str):
    # The SPA routes on the fragment; a shareable /verify/… link lands on its verify view.
    if not avatars_service.PUBLIC_ID.match(public_id):
        return RedirectResponse("/#/verify", status_code=302)
    return RedirectResponse(f"/#/verify/{public_id}", status_code=302)
