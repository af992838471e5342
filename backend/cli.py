"""The `agorax` console command."""

from __future__ import annotations

import argparse
import sys

from backend.config import get_settings
from backend.db.migrate import upgrade_database


def _migrate(_: argparse.Namespace) -> int:
    settings = get_settings()
    upgrade_database(settings.database_url)
    print("database is at the newest schema")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agorax", description="Agorax administration")
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser("migrate", help="create the database if missing and apply migrations")
    migrate.set_defaults(handler=_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
