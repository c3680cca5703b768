"""The shop's legal pages (terms of sale, withdrawal, privacy, legal notice, contact), in French
and English, from editable templates filled with the operator's settings.

A page is templates/<page>.<locale>.md, or the file of that name in EE_LEGAL_DIR when there is
one (file by file: an operator may replace only the terms). It starts with an HTML comment the
reader never sees: the note that a lawyer must review the text, and `updated: YYYY-MM-DD`, the
date the page shows (without it, the file's modification date). Then a small Markdown subset:
"# title", "## " / "### " headings, paragraphs, "- " lists (a line indented by two spaces goes on
with the item), **bold** and [text](address). `$name` placeholders (string.Template; `$$` is a
dollar) are filled after parsing, in text and addresses alike, so a setting's value is always
plain text: an operator's name with asterisks in it stays as it is written.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from pathlib import Path
from string import Template

from effigies.config import Settings, get_settings
from effigies.errors import DomainError
from effigies.legal.schemas import (
    HeadingBlock, LegalPageOut, LegalPageSummary, LegalPagesOut, ListBlock, ParagraphBlock, Span,
)

TEMPLATES_DIR = Path(__file__).parent / "templates"
# In the footer's order; "withdrawal" is linked from the terms.
PAGES = ("terms", "withdrawal", "privacy", "legal-notice", "contact")
LOCALES = ("fr", "en")

_COMMENT = re.compile(r"\A\s*<!--(.*?)-->\s*", re.DOTALL)
_UPDATED = re.compile(r"^\s*updated:\s*(\d{4}-\d{2}-\d{2})\s*$", re.MULTILINE)
_INLINE = re.compile(r"\*\*(?P<bold>.+?)\*\*|\[(?P<label>[^\]]+)\]\((?P<href>[^)\s]+)\)")
# Where a link may lead: the web, an e-mail address, or a page of this site.
_SAFE_HREF = re.compile(r"^(https?://|mailto:|#/)", re.IGNORECASE)
_MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}


class LegalError(DomainError):
    pass


def render(page: str, locale: str, settings: Settings | None = None) -> LegalPageOut:
    """The page in that language, its placeholders filled; an unknown page is a 404."""
    settings = settings or get_settings()
    path = _template_path(page, locale, settings)
    updated, text = _read(path)
    values = placeholders(settings, locale, updated)
    title, blocks = _parse(text, lambda s: _fill(s, values, path.name))
    return LegalPageOut(page=page, locale=locale, title=title, updated=values["updated"], blocks=blocks)


def list_pages(locale: str, settings: Settings | None = None) -> LegalPagesOut:
    """Every page with its title in that language (the footer's links)."""
    settings = settings or get_settings()
    return LegalPagesOut(locale=locale, pages=[
        LegalPageSummary(page=page, title=render(page, locale, settings).title) for page in PAGES
    ])


def placeholders(settings: Settings, locale: str, updated: date) -> dict[str, str]:
    """What `$name` stands for in a template, in that language."""
    return {
        "operator_name": settings.operator_name,
        "operator_address": settings.operator_address,
        "operator_email": settings.operator_email,
        "operator_phone": settings.operator_phone,
        "operator_registration": settings.operator_registration,
        "operator_vat": settings.operator_vat,
        "publication_director": settings.publication_director or settings.operator_name,
        "host_name": settings.host_name,
        "host_address": settings.host_address,
        "mediator": settings.mediator,
        "site": settings.public_url.rstrip("/"),
        "price": _money(settings.price_cents, locale),
        "packs": _packs(settings.topup_packs_cents, locale),
        "proposal_minutes": str(settings.candidate_ttl_minutes),
        "updated": _long_date(updated, locale),
    }


def _template_path(page: str, locale: str, settings: Settings) -> Path:
    if page not in PAGES:
        raise LegalError("page_not_found", f"There is no legal page {page!r}; the pages are: {', '.join(PAGES)}.",
                         status=404)
    if locale not in LOCALES:
        raise LegalError("invalid_locale", f"locale must be one of: {', '.join(LOCALES)}", status=422)
    name = f"{page}.{locale}.md"
    if settings.legal_dir is not None and (settings.legal_dir / name).is_file():
        return settings.legal_dir / name
    return TEMPLATES_DIR / name


def _read(path: Path) -> tuple[date, str]:
    """(the date the text was updated, the text without its leading comment)."""
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    updated = None
    if comment := _COMMENT.match(text):
        if found := _UPDATED.search(comment.group(1)):
            updated = date.fromisoformat(found.group(1))
        text = text[comment.end():]
    if updated is None:
        updated = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc).date()
    return updated, text


def _fill(text: str, values: dict[str, str], name: str) -> str:
    try:
        return Template(text).substitute(values)
    except KeyError as exc:
        raise LegalError("legal_template_invalid", f"{name} uses an unknown placeholder ${exc.args[0]}; "
                         f"the known ones are {', '.join('$' + k for k in values)}.", status=500) from None
    except ValueError as exc:  # a lone "$" (write $$ for a dollar sign)
        raise LegalError("legal_template_invalid", f"{name}: {exc}", status=500) from None


def _parse(text: str, fill) -> tuple[str, list]:
    title = ""
    blocks: list = []
    paragraph: list[str] = []
    items: list[str] | None = None

    def flush() -> None:
        nonlocal items
        if paragraph:
            blocks.append(ParagraphBlock(spans=_spans(" ".join(paragraph), fill)))
            paragraph.clear()
        if items is not None:
            blocks.append(ListBlock(items=[_spans(item, fill) for item in items]))
            items = None

    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("# ") and not title and not blocks:
            title = fill(line[2:].strip())
        elif line.startswith(("# ", "## ", "### ")):
            flush()
            marks = line.split(" ", 1)[0]
            level = 3 if marks == "###" else 2
            blocks.append(HeadingBlock(level=level, spans=_spans(line[len(marks):].strip(), fill)))
        elif line.startswith("- "):
            if paragraph:
                flush()
            items = [] if items is None else items
            items.append(line[2:].strip())
        elif items is not None and raw.startswith("  "):
            items[-1] += " " + line  # the item goes on
        else:
            if items is not None:
                flush()
            paragraph.append(line)
    flush()
    if not title:
        raise LegalError("legal_template_invalid", "a legal page must start with a '# title' line", status=500)
    return title, blocks


def _spans(text: str, fill, strong: bool = False) -> list[Span]:
    spans: list[Span] = []
    last = 0
    for match in _INLINE.finditer(text):
        if match.start() > last:
            spans.append(Span(text=fill(text[last:match.start()]), strong=strong))
        if match.group("bold") is not None:
            spans.extend(_spans(match.group("bold"), fill, strong=True))
        else:
            href = fill(match.group("href"))
            label = match.group("label")
            bold = len(label) > 4 and label.startswith("**") and label.endswith("**")  # [**text**](…)
            spans.append(Span(text=fill(label[2:-2] if bold else label), strong=strong or bold,
                              href=href if _SAFE_HREF.match(href) else None))
        last = match.end()
    if last < len(text):
        spans.append(Span(text=fill(text[last:]), strong=strong))
    return [span for span in spans if span.text]


def _money(cents: int, locale: str) -> str:
    euros, rest = divmod(cents, 100)
    if locale == "fr":
        return f"{euros},{rest:02d}\u00a0€"
    return f"€{euros}.{rest:02d}"


def _packs(packs: list[int], locale: str) -> str:
    amounts = [(_money(c, locale).replace(",00", "").replace(".00", "")) for c in sorted(packs)]
    if len(amounts) == 1:
        return amounts[0]
    joiner = " et " if locale == "fr" else " and "
    return ", ".join(amounts[:-1]) + joiner + amounts[-1]


def _long_date(day: date, locale: str) -> str:
    month = _MONTHS[locale if locale in _MONTHS else "fr"][day.month - 1]
    return f"{day.day} {month} {day.year}"
