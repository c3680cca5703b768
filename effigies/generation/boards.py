"""Design boards' lifecycle: asked for by the API, drawn by a generate worker, swept after a day.

The drawing itself is effigies.generation.board; the samples are filtered like candidates
(effigies.generation.jobs.fresh_candidates)."""
from __future__ import annotations

import secrets
import shutil
import time
import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from effigies.config import get_settings
from effigies.db import session_scope, utcnow
from effigies.generation import board, fairqueue
from effigies.generation.jobs import fresh_candidates, version_weights
from effigies.generation.service import GenerationError, submit_item
from effigies.themes import service as themes_service

# Boards are kept a day: long enough to download both files, short enough not to pile up.
BOARD_RETENTION = timedelta(days=1)


def request_board(*, session: Session, user_id: uuid.UUID, slug: str, count: int, locale: str) -> str:
    """Check the theme can generate, note the request and queue its drawing (503 if the queue is down)."""
    if count not in board.COUNTS:
        raise GenerationError("invalid_count", "A board has 16 or 64 samples.", status=422)
    theme = themes_service.get_visible_theme(session=session, slug=slug)
    themes_service.ensure_generating(theme=theme)
    board_id = uuid.uuid4().hex
    board.request(board.board_dir(board_id), user_id=str(user_id), slug=slug, count=count, locale=locale,
                  seed=secrets.randbits(62))
    # Nothing in the database to undo if the queue is down: the request file is swept in a day.
    # In its owner's turn, weighing its 16 or 64 images (effigies.generation.fairqueue).
    submit_item(owner=fairqueue.owner_key(user_id=user_id), kind="board", item_id=board_id, images=count)
    return board_id


def board_status(*, board_id: str, user_id: uuid.UUID) -> tuple[str, dict]:
    """("pending" | "done", the request) of one's own board; anyone else's is unknown."""
    try:
        folder = board.board_dir(board_id)
    except ValueError:
        folder = None
    meta = board.requested(folder) if folder else None
    if meta is None or meta["user_id"] != str(user_id):
        raise GenerationError("board_not_found", "No such board.", status=404)
    return ("done" if (folder / "board.pdf").is_file() else "pending"), meta


def make_board(*, board_id: str) -> str:
    """The worker's side; safe to run twice (same seed, same sheet, files replaced atomically)."""
    folder = board.board_dir(board_id)
    meta = board.requested(folder)
    if meta is None:
        return "skipped"  # swept before a worker got to it
    if (folder / "board.pdf").is_file():
        return "done"
    with session_scope() as session:
        theme = themes_service.get_visible_theme(session=session, slug=meta["slug"])
        themes_service.ensure_generating(theme=theme)
        version_id = theme.current_model_version_id
        weights_dir, pixel_art = version_weights(session, version_id)
        title = theme.name_fr if meta["locale"] == "fr" and theme.name_fr else theme.name
    accepted, _ = fresh_candidates(version_id=str(version_id), weights_dir=weights_dir, count=meta["count"],
                                    seed=meta["seed"])
    fairqueue.yield_to_others()  # a flood's board gives way to others' jobs between its steps
    sheet = board.compose([image for image, _ in accepted], per_row=int(meta["count"] ** 0.5), title=title,
                          made_on=utcnow().date(), pixel_art=pixel_art)
    fairqueue.yield_to_others()
    board.save(sheet, folder)
    return "done"


def delete_old_boards() -> int:
    root = get_settings().images_dir / "boards"
    cutoff = time.time() - BOARD_RETENTION.total_seconds()
    deleted = 0
    for folder in root.glob("*") if root.is_dir() else []:
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            deleted += 1
    return deleted
