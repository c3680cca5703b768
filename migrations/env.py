from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from effigies.db import get_engine
from effigies.models import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        with get_engine().connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        # Several processes may start at once (api, workers, `migrate`): one migrates, the others wait.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7420001)")
        context.run_migrations()


run_migrations_online()
