"""The admin's theme work that spans domains, above them all: the overview (themes, their sales,
their refused near-copies) and retiring a theme (the theme, then its pending offers).

Each domain writes its own rows through its service (themes.admin, generation.service); this
package only puts them in one transaction, so that themes need not know about generation or
avatars (no import cycle: tests/test_architecture.py)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from effigies.avatars import service as avatars_service
from effigies.generation import service as generation_service
from effigies.themes import admin as themes_admin


def overview(*, session: Session, slug: str | None = None) -> list[dict[str, Any]]:
    """Every theme (or the one called `slug`) as the admin table shows it."""
    rows = themes_admin.overview(session=session, slug=slug)
    ids = [row["theme"].id for row in rows]
    sales = avatars_service.sales_by_theme(session=session, theme_ids=ids)
    rejected = generation_service.rejected_by_theme(session=session, theme_ids=ids)
    for row in rows:
        count, revenue = sales.get(row["theme"].id, (0, 0))
        row.update(sales=count, revenue_cents=revenue, rejected_near_duplicates=int(rejected.get(row["theme"].id, 0)))
    return rows


def retire(*, session: Session, slug: str) -> int:
    """No new images (themes answer 410) and every pending offer ends now, in one transaction;
    sold avatars are untouched. The offers' files go once committed, as the sweeper's do.
    Returns how many offers ended."""
    theme = themes_admin.retire(session=session, slug=slug)
    paths = generation_service.expire_offers(session=session, theme_id=theme.id)
    session.commit()
    generation_service.delete_candidate_files(paths)
    return len(paths)
