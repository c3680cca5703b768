"""Text that people type and others read (display names, adjustment reasons, theme names and
descriptions): what we accept, said once for every form.

- Normalised to NFC before any length check, so "é" typed as e + U+0301 and as U+00E9 is the same
  name, and the stored length is the length that was checked.
- Refused: lone surrogates (JSON may spell them, UTF-8 cannot store them), control characters
  (a NUL byte PostgreSQL cannot even store; tabs and line breaks only where the text may
  span lines) and the bidirectional overrides, embeddings and isolates (U+202A-U+202E,
  U+2066-U+2069), which make "gnp.exe" read as "exe.png" to the next person.
- Allowed: every script, emoji, and the zero-width (non-)joiners that emoji sequences and several
  scripts need; combining marks are fine once composed. A text made of invisible characters only
  counts as blank.

E-mail addresses are not display text: see `normalise_email` (NFKC, accounts.service).

Every free-text field of a request body says so with `Line` (one line) or `Lines` (a textarea),
giving only its lengths: `reason: text.Line = Field(min_length=3, max_length=500)`.
"""
from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import BeforeValidator, Field

BIDI_CONTROLS = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
# The same rule for one line, as a JSON Schema pattern (what /openapi.json tells clients).
LINE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
# A textarea's: the same, tab, line feed and carriage return allowed (a browser sends CRLF).
LINES_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
MULTILINE_CONTROLS = frozenset("\r\n\t")


def normalise(value: object) -> object:
    """NFC and trimmed; for pydantic's BeforeValidator, so that length limits see the stored form."""
    return unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else value


def check(value: str, *, multiline: bool = False) -> str:
    """Raise ValueError (a 422 through pydantic) for characters nobody should have to read."""
    for char in value:
        if char in BIDI_CONTROLS:
            raise ValueError("must not contain text-direction control characters")
        if unicodedata.category(char) == "Cs":  # JSON's "\ud800": half a character, not storable
            raise ValueError("must be valid Unicode (no lone surrogates)")
        if unicodedata.category(char) == "Cc" and not (multiline and char in MULTILINE_CONTROLS):
            raise ValueError("must not contain control characters")
    if value and not any(unicodedata.category(char)[0] in "LNPS" for char in value):
        raise ValueError("must contain a visible character")
    return value


def check_line(value: str) -> str:
    return check(value)


def check_multiline(value: str) -> str:
    return check(value, multiline=True)


def _line(value: object) -> object:
    return check_line(value) if isinstance(value := normalise(value), str) else value


def _lines(value: object) -> object:
    return check_multiline(value) if isinstance(value := normalise(value), str) else value


# NFC, trimmed and checked before the field's own lengths (pydantic's str checks, with their usual
# messages), so that those see the stored form. The pattern tells clients (/openapi.json) what the
# check enforces; the check's message names the problem.
Line = Annotated[str, BeforeValidator(_line), Field(json_schema_extra={"pattern": LINE_PATTERN})]
# A textarea's text: line breaks and tabs allowed, otherwise the same rule.
Lines = Annotated[str, BeforeValidator(_lines), Field(json_schema_extra={"pattern": LINES_PATTERN})]
