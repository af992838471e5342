"""Alembic environment: migrations are the only way Agorax's tables are made."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from backend.config import get_settings
from backend.db.models import Base

target_metadata = Base.metadata


def _database_url() -> str:
    # A caller (tests, start-up) may pass the URL explicitly; otherwise the settings decide.
    return context.config.attributes.get("database_url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_database_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
