"""A legal page as structured blocks (GET /api/legal/{page}): text only, never markup, so the
frontend builds DOM nodes from it and nothing an operator writes is ever parsed as HTML."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field


class Span(BaseModel):
    """A run of text: bold, or a link (http(s), mailto: or a page of the site, `#/…`), or neither."""

    text: str
    strong: bool = False
    href: str | None = None


class HeadingBlock(BaseModel):
    type: Literal["heading"] = "heading"
    level: Literal[2, 3]
    spans: list[Span]


class ParagraphBlock(BaseModel):
    type: Literal["paragraph"] = "paragraph"
    spans: list[Span]


class ListBlock(BaseModel):
    type: Literal["list"] = "list"
    items: list[list[Span]]


Block = Annotated[HeadingBlock | ParagraphBlock | ListBlock, Field(discriminator="type")]


class LegalPageOut(BaseModel):
    page: str
    locale: Literal["fr", "en"]
    title: str
    updated: str  # the date the text was last changed, written out in the page's language
    blocks: list[Block]


class LegalPageSummary(BaseModel):
    page: str
    title: str


class LegalPagesOut(BaseModel):
    locale: Literal["fr", "en"]
    pages: list[LegalPageSummary]
