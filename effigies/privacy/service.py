"""The person's own data, gathered for them (GDPR art. 15 and 20: access and portability).

Above accounts, billing, avatars and generation, which it reads through their services only. What
is left out, and why: password hash and session tokens (secrets, useless to the person), the
perceptual fingerprints of their avatars (derived from images they already have), rate-limit
counters (minutes-long, not about the person)."""
from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from effigies.accounts import addresses as accounts_addresses
from effigies.accounts import service as accounts_service
from effigies.avatars import service as avatars_service
from effigies.billing import service as billing_service
from effigies.billing.schemas import LedgerLine, TopUpOut
from effigies.db import utcnow
from effigies.generation import service as generation_service
from effigies.privacy.schemas import (
    DataExport, ExportAccount, ExportAddress, ExportAvatar, ExportEmailLink, ExportProposal, ExportSession,
    ExportWallet,
)

# A wallet moves 10 cents at a time: far more lines than anyone has, still a bounded read.
MAX_LINES = 100_000


def export_data(*, session: Session, user_id: uuid.UUID) -> DataExport:
    user = accounts_service.get_user(session=session, user_id=user_id)
    balance, lines, topups = billing_service.history(session=session, user_id=user_id, lines=MAX_LINES, topups=MAX_LINES)
    owned = avatars_service.list_owned(session=session, user_id=user_id)
    offers = generation_service.list_offers(session=session, user_id=user_id, limit=MAX_LINES)
    extra = accounts_addresses.list_addresses(session=session, user_id=user_id)
    # Which address each link is, by id (None: the account's own), as GET /api/me/avatar-links says.
    ids = {avatars_service.address_hashes(user.email)[1]: None,
           **{avatars_service.address_hashes(a.email)[1]: a.id for a in extra if a.verified_at is not None}}
    links = avatars_service.email_links(session=session, user_id=user_id,
                                        emails=[user.email, *(a.email for a in extra if a.verified_at is not None)])
    return DataExport(
        exported_at=utcnow(),
        account=ExportAccount.model_validate(user, from_attributes=True),
        sessions=[ExportSession.model_validate(s, from_attributes=True)
                  for s in accounts_service.sessions_of(session=session, user_id=user_id)],
        wallet=ExportWallet(balance_cents=balance, movements=[LedgerLine.model_validate(x) for x in lines],
                            topups=[TopUpOut.model_validate(t) for t in topups]),
        avatars=[ExportAvatar(public_id=a.public_id, url=avatars_service.public_url(a.public_id), theme_slug=t.slug,
                              theme_name=t.name, price_cents=a.price_cents, bought_at=a.created_at) for a, t in owned],
        addresses=[ExportAddress(id=a.id, email=a.email, verified=a.verified_at is not None, added_at=a.created_at,
                                 verified_at=a.verified_at) for a in extra],
        avatar_email_links=[ExportEmailLink(address_id=ids.get(link.sha256), avatar_public_id=link.public_id,
                                            url=avatars_service.hash_url(link.sha256), linked_at=link.created_at)
                            for link in links],
        proposals=[ExportProposal(id=c.id, theme_slug=slug, created_at=c.created_at, expires_at=c.expires_at)
                   for c, slug in offers],
    )
