"""Bring a database to the newest schema (creating the database first when it is missing)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from backend.db.session import ensure_database_exists

REPO_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    config.attributes["database_url"] = database_url
    return config


def upgrade_database(database_url: str) -> None:
    ensure_database_exists(database_url)
    command.upgrade(alembic_config(database_url), "head")
