"""The `agorax` console command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.config import get_settings
from backend.db.migrate import upgrade_database
from backend.db.session import session_scope
from backend.importers import trello
from backend.services.errors import DomainError, InvalidInput
from backend.services.imports import import_trello_board


def _migrate(_: argparse.Namespace) -> int:
    settings = get_settings()
    upgrade_database(settings.database_url)
    print("database is at the newest schema")
    return 0


def _one_line(text: str) -> str:
    # Messages quote the file (ids, names, the path): a newline or a lone surrogate there is shown escaped.
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _import_trello(args: argparse.Namespace) -> int:
    try:
        board = trello.load_board(args.file)
        with session_scope() as session:
            summary = import_trello_board(session, owner_username=args.owner, board=board, name=args.name)
    except DomainError as exc:
        print(f"agorax import-trello: {_one_line(exc.detail)}", file=sys.stderr)
        # 2: the input is unusable (as argparse does for bad arguments); 1: e.g. an unknown owner.
        return 2 if isinstance(exc, InvalidInput) else 1
    print(summary.describe())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agorax", description="Agorax administration")
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser("migrate", help="create the database if missing and apply migrations")
    migrate.set_defaults(handler=_migrate)
    trello_import = commands.add_parser(
        "import-trello",
        help="make a new project from a Trello board's JSON export (one transaction: all or nothing)",
    )
    trello_import.add_argument("file", type=Path, metavar="FILE", help='the board\'s "Export as JSON" file')
    trello_import.add_argument("--owner", required=True, metavar="USERNAME", help="the existing Agorax user")
    trello_import.add_argument("--name", help="the project's name (default: the board's name)")
    trello_import.set_defaults(handler=_import_trello)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
