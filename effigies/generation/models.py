from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, func, text,
)
from sqlalchemy.orm import Mapped, mapped_column

from effigies.db import Base

JOB_STATUSES = ("queued", "running", "done", "failed")
CANDIDATE_STATUSES = ("offered", "sold", "expired")
# A job and its candidates belong to a person (user_id) or to a visitor without an account
# (visitor: the SHA-256 of their ee_visitor cookie, effigies.generation.service.visitor_key).
ONE_OWNER = "(user_id IS NULL) <> (visitor IS NULL)"


class GenerationJob(Base):
    __tablename__ = "generation_jobs"
    __table_args__ = (
        CheckConstraint(f"status IN {JOB_STATUSES}", name="status"),
        CheckConstraint("count BETWEEN 1 AND 8", name="count"),
        CheckConstraint(ONE_OWNER, name="one_owner"),
        # Admin stats read the last days by created_at (effigies.monitoring): a BRIN index is a
        # few pages for a table appended in time order, and costs the insert almost nothing.
        Index("ix_generation_jobs_created_at_brin", "created_at", postgresql_using="brin"),
        # The beat's sweep of jobs whose queue message was lost reads only these (service.recover_jobs).
        Index("ix_generation_jobs_pending", "created_at", postgresql_where=text("status IN ('queued', 'running')")),
        # A visitor's jobs, moved to the account they sign up with (service.adopt_visitor).
        Index("ix_generation_jobs_visitor", "visitor", postgresql_where=text("visitor IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    visitor: Mapped[str | None] = mapped_column(String(64))
    theme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("themes.id"), index=True)
    model_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_versions.id"))
    count: Mapped[int] = mapped_column(Integer)
    # The job's latents derive from this seed, so running the task twice yields the same images.
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    rejected_near_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    # Images offered, set when the job finishes: unsold candidates' rows are deleted a week after
    # they expire, so the admin stats count them here. NULL: not finished, or older than 0009.
    candidates_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Candidate(Base):
    """A generated image offered to one user (or visitor) until it expires or is sold."""

    __tablename__ = "candidates"
    __table_args__ = (
        CheckConstraint(f"status IN {CANDIDATE_STATUSES}", name="status"),
        UniqueConstraint("job_id", "position"),
        CheckConstraint(ONE_OWNER, name="one_owner"),
        # A visitor's proposals (their theme page, adoption at sign-up): only visitors' rows.
        Index("ix_candidates_visitor", "visitor", postgresql_where=text("visitor IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    visitor: Mapped[str | None] = mapped_column(String(64))
    theme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("themes.id"))
    model_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_versions.id"))
    # effigies.uniqueness.fingerprint: checked again in the purchase transaction.
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    image_path: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="offered")
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
