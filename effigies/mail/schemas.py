from __future__ import annotations

from pydantic import BaseModel


class OutboxMessage(BaseModel):
    id: str
    date: str | None
    to: str | None
    subject: str | None
    text: str


class OutboxOut(BaseModel):
    messages: list[OutboxMessage]
