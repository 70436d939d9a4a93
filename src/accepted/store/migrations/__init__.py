"""Numbered schema migrations, one folder per SQL dialect (`NNNN_name.sql`)."""

from __future__ import annotations

from importlib.resources import files


def load_migrations(dialect: str) -> list[tuple[int, str]]:
    """Each migration of `dialect` as (number, SQL text), in order."""
    folder = files(__name__).joinpath(dialect)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)
