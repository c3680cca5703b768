"""The worker's side of a generation job: draw images far from every registered fingerprint,
write the clean file and its marked preview, insert the candidates once (run_job); boards draw
with the same fresh_candidates (effigies.generation.boards)."""
from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from effigies.config import get_settings
from effigies.db import session_scope, utcnow
from effigies.generation import fairqueue
from effigies.generation.events import publish_job_update
from effigies.generation.models import Candidate, GenerationJob
from effigies.generation.preview import preview_webp
from effigies.generation.service import candidate_image_path, preview_of
from effigies.themes import service as themes_service
from effigies.uniqueness import service as uniqueness_service
from effigies.uniqueness.fingerprint import fingerprint, hamming


def _write(image: Image.Image, path: Path, **save) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    image.save(tmp, **save)
    os.replace(tmp, path)


def _write_bytes(data: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def fresh_candidates(
    *, version_id: str, weights_dir: Path, count: int, seed: int
) -> tuple[list[tuple[Image.Image, bytes]], int]:
    """Up to `count` images whose fingerprints are far from every registered one and from each
    other; also returns how many were refused as near-copies."""
    from effigies.generation import sampler  # torch is only imported where images are made

    settings = get_settings()
    radius = settings.uniqueness_radius
    accepted: list[tuple[Image.Image, bytes]] = []
    rejected = 0
    for attempt in range(settings.generation_max_tries):
        need = count - len(accepted)
        if need <= 0:
            break
        # Exactly what is missing: with the 256-bit fingerprint a refusal is rare (README,
        # capacity), and spare images cost a fingerprint each, the worker's largest CPU item.
        batch = sampler.generate(
            version_id, weights_dir, n=need, seed=(seed + attempt) % (1 << 63),
            max_batch=settings.generation_max_batch, max_wait_s=settings.generation_max_wait_ms / 1000,
        )
        # RGB or RGBA as the generator draws it: the clean file keeps alpha, and fingerprint()
        # reads the fixed white composite, so the registry compares it with every earlier sale.
        images = [Image.fromarray(array) for array in batch]
        values = []
        for i, image in enumerate(images):
            if i % 8 == 0:  # 6 ms of CPU each: a flood's board gives way between groups (fairqueue)
                fairqueue.yield_to_others()
            values.append(fingerprint(image))
        with session_scope() as session:
            taken = uniqueness_service.near_mask(session=session, values=values, radius=radius)
        for image, value, is_taken in zip(images, values, taken):
            if is_taken or any(hamming(value, other) <= radius for _, other in accepted):
                rejected += 1
            else:
                accepted.append((image, value))
    return accepted, rejected


_jobs, _candidates = GenerationJob.__table__, Candidate.__table__
# A version's weights never move and its theme's drawing style stays: one query per process.
_versions: dict[uuid.UUID, tuple[Path, bool]] = {}


def version_weights(session: Session, version_id: uuid.UUID) -> tuple[Path, bool]:
    """(weights folder, pixel art?) of a model version."""
    if version_id not in _versions:
        _versions[version_id] = themes_service.version_drawing(session=session, version_id=version_id)
    return _versions[version_id]


def run_job(*, job_id: uuid.UUID) -> str:
    """The worker's side. Safe to run twice, even at the same time: the job's seed fixes its
    images, files are written under deterministic names, and candidates are inserted once, in
    the final transaction, by whichever run locks the job row first.

    Core statements rather than ORM objects: three short transactions per job, and the ORM's
    bookkeeping was a third of the worker's Python time (py-spy under bench_generate)."""
    settings = get_settings()
    with session_scope() as session:
        job = session.execute(
            update(_jobs)
            .where(_jobs.c.id == job_id, _jobs.c.status.in_(("queued", "running")))
            .values(status="running", started_at=func.coalesce(_jobs.c.started_at, func.now()))
            .returning(_jobs.c.model_version_id, _jobs.c.count, _jobs.c.seed, _jobs.c.theme_id)
        ).one_or_none()
        if job is None:
            return "skipped"
        weights_dir, pixel_art = version_weights(session, job.model_version_id)
    if settings.generation_test_delay_s:
        time.sleep(settings.generation_test_delay_s)  # EE_ENV=test only: lets a test kill a worker mid-job

    accepted, rejected = fresh_candidates(
        version_id=str(job.model_version_id), weights_dir=weights_dir, count=job.count, seed=job.seed
    )
    fairqueue.yield_to_others()  # before the previews, outside the transaction below
    expires_at = utcnow() + timedelta(minutes=settings.candidate_ttl_minutes)
    rows = [
        {"id": uuid.uuid4(), "job_id": job_id, "position": position, "theme_id": job.theme_id,
         "model_version_id": job.model_version_id, "fingerprint": value, "image_path": f"candidates/{job_id}/{position}.png",
         "status": "offered", "expires_at": expires_at}
        for position, (_, value) in enumerate(accepted)
    ]
    status, error = ("done", None) if accepted else ("failed", "Every image came out too close to an avatar already sold: try again.")
    with session_scope() as session:
        # The owner is read here, under the row lock: a visitor who signed up meanwhile had the
        # job moved to their account (adopt_visitor), and its candidates follow it.
        current = session.execute(
            select(_jobs.c.status, _jobs.c.user_id, _jobs.c.visitor).where(_jobs.c.id == job_id).with_for_update()
        ).one_or_none()
        if current is None or current.status in ("done", "failed"):  # None: its owner's account was deleted
            return "skipped"
        for row in rows:
            row.update(user_id=current.user_id, visitor=current.visitor)
        for (image, _), row in zip(accepted, rows):
            path = settings.images_dir / row["image_path"]
            # zlib's default level, not optimize=True: 3x faster on a transparent 64 px image
            # (0.7 vs 2.2 ms, the worker's largest item after the forward pass) for 1 % more bytes.
            _write(image, path, format="PNG", compress_level=6)
            # The 256 px master as the buyer will get it, marked, in WebP (effigies.generation.preview).
            _write_bytes(preview_webp(image, pixel_art=pixel_art, weights_dir=weights_dir), preview_of(path))
        if rows:
            session.execute(insert(_candidates), rows)
        session.execute(
            update(_jobs)
            .where(_jobs.c.id == job_id)
            .values(status=status, error=error, rejected_near_duplicates=rejected, candidates_count=len(rows),
                    finished_at=func.now())
        )
    # Only once committed. The message carries the outcome, so a waiting event stream (which
    # has already checked who owns the job) needn't read it back from the database.
    publish_job_update(job_id, {
        "status": status, "error": error,
        "candidates": [{"id": str(r["id"]), "expires_at": r["expires_at"].isoformat(), "status": "offered"} for r in rows],
    })
    return status


def candidate_preview_path(*, session: Session, candidate: Candidate) -> Path:
    """The watermarked preview, made here for candidates generated before this kind of preview."""
    path = preview_of(candidate_image_path(candidate))
    if not path.is_file():
        weights_dir, pixel_art = version_weights(session, candidate.model_version_id)
        with Image.open(candidate_image_path(candidate)) as clean:
            _write_bytes(preview_webp(clean, pixel_art=pixel_art, weights_dir=weights_dir), path)
    return path
