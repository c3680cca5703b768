"""An account's extra e-mail addresses (effigies.accounts.addresses): list, add (a link is
mailed to the address), mail a new link, confirm from the link, remove."""
from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from effigies.accounts import addresses, service
from effigies.accounts.models import AccountAddress
from effigies.accounts.schemas import AddressIn, AddressOut, AddressVerifiedOut, MailSentOut, TokenIn
from effigies.api.deps import CurrentUser, SessionDep
from effigies.api.openapi import errors
from effigies.api.ratelimit import client_ip, hits
from effigies.config import get_settings

router = APIRouter(prefix="/api", tags=["accounts"])
MAIL_WINDOW_S = 3600  # as the account address's mails (effigies.accounts.router)
# Links mailed to an account's extra addresses, all of them together, in each window: adding the
# five an account may have, and a few new links.
MAILS_PER_ACCOUNT = 10


def _mail_budget(request: Request, user_id: uuid.UUID):
    """One e-mail more to an address, for this account and from this client; 429 past any. The
    address and client budgets are the ones every e-mail of the shop counts against. Called by
    the service just before a mail goes, so a refused request spends none."""
    settings = get_settings()

    def spend(address: str) -> None:
        hits([("mail-to", service.normalise_email(address), settings.mail_rate_per_address),
              ("mail-account", str(user_id), MAILS_PER_ACCOUNT),
              ("mail-ip", client_ip(request), settings.mail_rate_per_ip)], window_s=MAIL_WINDOW_S)
    return spend


def _out(row: AccountAddress) -> AddressOut:
    return AddressOut(id=row.id, email=row.email, verified=row.verified_at is not None, created_at=row.created_at,
                      verified_at=row.verified_at)


@router.get("/me/addresses", response_model=list[AddressOut])
def my_addresses(user: CurrentUser, session: SessionDep):
    """The account's extra addresses, pending or verified (the account's own is GET /api/me's)."""
    return [_out(row) for row in addresses.list_addresses(session=session, user_id=user.id)]


@router.post("/me/addresses", status_code=201, response_model=AddressOut, responses=errors(409, 429, 503))
def add_address(body: AddressIn, request: Request, user: CurrentUser, session: SessionDep):
    """A pending address; the link that confirms it is mailed to it."""
    return _out(addresses.add_address(session=session, user=user, email=body.email,
                                      budget=_mail_budget(request, user.id)))


@router.post("/me/addresses/{address_id}/verification", status_code=202, response_model=MailSentOut,
             responses=errors(404, 409, 429, 503))
def resend_address_link(address_id: uuid.UUID, request: Request, user: CurrentUser, session: SessionDep):
    addresses.resend(session=session, user=user, address_id=address_id, budget=_mail_budget(request, user.id))
    return MailSentOut()


@router.delete("/me/addresses/{address_id}", status_code=204, responses=errors(404))
def remove_address(address_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """The address goes, and the avatar it showed at /avatar/{hash} with it."""
    addresses.remove(session=session, user_id=user.id, address_id=address_id)
    return Response(status_code=204)


@router.post("/auth/addresses/verify", response_model=AddressVerifiedOut, responses=errors(400, 409))
def verify_address(body: TokenIn, session: SessionDep):
    """The link mailed to an extra address; works without being logged in (another device)."""
    row = addresses.verify(session=session, token=body.token)
    return AddressVerifiedOut(email=row.email, verified=True)
