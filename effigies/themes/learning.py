"""How a theme's generator learned: the timeline its training run left beside the weights
(effigies.training.timeline), for the "how it learns" page."""
from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy.orm import Session

from effigies.themes.models import ModelVersion, Theme
from effigies.themes.service import ThemesError, resolve_weights_dir

# A model version's learning timeline, in its weights folder (written by effigies.training.timeline).
TIMELINE_DIR = "timeline"
TIMELINE_FILE = "timeline.json"

_FRAME = re.compile(r"^frame_\d{6}\.jpg$")


def _timeline_dir(session: Session, theme: Theme) -> Path:
    version = session.get(ModelVersion, theme.current_model_version_id) if theme.current_model_version_id else None
    folder = resolve_weights_dir(version.weights_dir) / TIMELINE_DIR if version else None
    if folder is None or not (folder / TIMELINE_FILE).is_file():
        raise ThemesError("timeline_not_found", "This theme's generator kept no record of its training.", status=404)
    return folder


def timeline(*, session: Session, theme: Theme) -> dict:
    """{"frames": [{"step", "images", "url"}], "losses": [[images, loss_d, loss_g], ...]}."""
    data = json.loads((_timeline_dir(session, theme) / TIMELINE_FILE).read_text(encoding="utf-8"))
    frames = [
        {"step": f["step"], "images": f["images"], "url": f"/api/themes/{theme.slug}/learning/{f['file']}"}
        for f in data["frames"]
    ]
    return {"frames": frames, "losses": data["losses"], "replay": data.get("replay", False)}


def frame_path(*, session: Session, theme: Theme, name: str) -> Path:
    path = _timeline_dir(session, theme) / name
    if not _FRAME.match(name) or not path.is_file():  # the name becomes part of a path
        raise ThemesError("frame_not_found", "No such picture in this theme's timeline.", status=404)
    return path
