"""A draft theme with a small training set of its own, and waits on a training run."""
from __future__ import annotations

import time
import uuid
from pathlib import Path


def draft_theme(stack, *, images: int = 64, source: str = "emoji-folk") -> str:
    """A new draft theme whose dataset is ``images`` fresh samples of a shipped generator, as PNGs
    where uploads put them (``<data>/datasets/<slug>``); returns its slug."""
    from PIL import Image

    from effigies.db import session_scope
    from effigies.gan.checkpoint import load_generator
    from effigies.gan.sample import latents, sample
    from effigies.themes.models import Theme
    from effigies.themes.service import PRETRAINED_DIR

    slug = f"train-{uuid.uuid4().hex[:8]}"
    folder = Path(stack.data_dir) / "datasets" / slug
    folder.mkdir(parents=True)
    generator, config = load_generator(PRETRAINED_DIR / source)
    for i, array in enumerate(sample(generator, latents(images, config.nz, seed=11))):
        Image.fromarray(array).save(folder / f"{i:04d}.png")
    with session_scope() as session:
        session.add(Theme(slug=slug, name=f"Test {slug}", status="draft"))
    return slug


def run_row(run_id):
    from effigies.db import session_scope
    from effigies.training.models import TrainingRun

    with session_scope() as session:
        return session.get(TrainingRun, run_id)


def theme_versions(slug: str) -> list:
    from sqlalchemy import select

    from effigies.db import session_scope
    from effigies.themes.models import ModelVersion, Theme

    with session_scope() as session:
        return list(session.scalars(
            select(ModelVersion).join(Theme, Theme.id == ModelVersion.theme_id).where(Theme.slug == slug)))


def theme_status(slug: str) -> str:
    from sqlalchemy import select

    from effigies.db import session_scope
    from effigies.themes.models import Theme

    with session_scope() as session:
        return session.scalar(select(Theme.status).where(Theme.slug == slug))


def wait_for(predicate, timeout: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
