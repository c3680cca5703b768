"""Declarative base, engine and the one session helper. PostgreSQL only; no FastAPI here."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache

from sqlalchemy import DateTime, MetaData, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from effigies.config import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def sqlalchemy_url(url: str) -> str:
    """Accept the usual postgres:// and postgresql:// forms; we drive psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class DatabaseNotConfigured(RuntimeError):
    pass


@lru_cache
def get_engine() -> Engine:
    url = get_settings().database_url
    if not url:
        raise DatabaseNotConfigured("DATABASE_URL is not set: run `effigies up`, or set DATABASE_URL")
    # A short connect timeout: during an outage the API must answer 503 quickly, not hang.
    return create_engine(
        sqlalchemy_url(url),
        pool_pre_ping=True,
        # Kept open rather than closed after use: a new PostgreSQL backend costs milliseconds of
        # CPU, and a worker runs up to EE_WORKER_CONCURRENCY jobs at once, the API 40 threads.
        pool_size=30,
        max_overflow=10,
        # No parallel plans: every query here is a short index probe, and starting parallel
        # workers cost 20 ms for the worker's batched registry check, 30x its own work (EXPLAIN).
        connect_args={"connect_timeout": 5, "options": "-c max_parallel_workers_per_gather=0"},
    )


@lru_cache
def session_factory() -> sessionmaker[Session]:
    # Every table must be known before the first query, or foreign keys to a domain that this
    # process never imported (a worker, a script) fail to resolve.
    import effigies.models  # noqa: F401

    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset_engine() -> None:
    """Forget the cached engine (after a fork, or when settings change in tests)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)
    get_engine.cache_clear()
    session_factory.cache_clear()
