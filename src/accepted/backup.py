"""`accepted backup PATH`: an online copy of the SQLite database, taken while it serves.

PostgreSQL has its own tools for this (pg_dump, base backups), which know far
more about it than we could; the command says so instead of half-doing it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from accepted.config import env_name


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "backup",
        help="copy the SQLite database to a new file, while the server runs",
        description="Copy the SQLite database to PATH with SQLite's online backup: "
        "a consistent snapshot holding every job acknowledged before it began. The "
        "server keeps serving meanwhile. PATH must not exist. For a postgresql:// "
        "database use pg_dump.",
    )
    parser.add_argument("path", metavar="PATH", help="the new file to write")
    parser.add_argument(
        "--db",
        default=os.environ.get(env_name("db")) or "./accepted.db",
        help="the database to copy [env ACCEPTED_DB; default ./accepted.db]",
    )


def run(args: argparse.Namespace) -> int:
    from accepted.store import sqlite_path
    from accepted.store.sqlite_backup import BackupError, backup

    if args.db.startswith(("postgresql://", "postgres://")):
        print(
            "accepted: backup copies SQLite databases; for PostgreSQL use pg_dump", file=sys.stderr
        )
        return 2
    try:
        pages = backup(sqlite_path(args.db), args.path)
    except BackupError as exc:
        print(f"accepted: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {args.db} to {args.path} ({pages} pages)")
    return 0
