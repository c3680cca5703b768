from __future__ import annotations

from pydantic import BaseModel


class ThemeOut(BaseModel):
    slug: str
    name: str
    name_fr: str
    description: str
    description_fr: str
    attribution: str
    status: str
    pixel_art: bool
    sample_url: str
