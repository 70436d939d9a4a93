"""The rules of store/sql_rules.py and the migrations' indexes say the same thing.

A change to the hand-out order or to a sweep's condition that no migration
follows leaves the claim or the sweep without its index: slow, not wrong, so
no contract test would notice. These do.
"""

from __future__ import annotations

import re

import pytest

from accepted.store import sql_rules
from accepted.store.migrations import load_migrations
from accepted.types import Due

_INDEX = re.compile(
    r"CREATE (?:UNIQUE )?INDEX (\w+)\s+ON (\w+)\s*\((.*?)\)\s*(?:WHERE ([^;]+))?;", re.S
)
_DIALECTS = {"sqlite": ("jobs", "IS NOT"), "postgres": ("accepted_jobs", "IS DISTINCT FROM")}


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _indexes(dialect: str) -> dict[str, tuple[str, str]]:
    """Each index on the jobs table as the migrations leave it: its columns and predicate."""
    table = _DIALECTS[dialect][0]
    found: dict[str, tuple[str, str]] = {}
    for _, script in load_migrations(dialect):
        for name in re.findall(r"DROP INDEX (?:IF EXISTS )?(\w+)", script):
            found.pop(name, None)
        for name, on, columns, where in _INDEX.findall(script):
            if on == table:
                found[name] = (_squeeze(columns), _squeeze(where))
    return found


@pytest.mark.parametrize("dialect", sorted(_DIALECTS))
def test_the_claim_indexes_are_in_the_hand_out_order(dialect: str) -> None:
    queued = [cols for cols, where in _indexes(dialect).values() if where == sql_rules.QUEUED]
    assert sql_rules.order_by() in queued
    assert f"queue, {sql_rules.order_by()}" in queued


@pytest.mark.parametrize("dialect", sorted(_DIALECTS))
@pytest.mark.parametrize("due", list(Due))
def test_each_sweep_condition_implies_its_index_predicate(dialect: str, due: Due) -> None:
    condition, column = sql_rules.due_where(_DIALECTS[dialect][1])[due]
    predicates = [where for cols, where in _indexes(dialect).values() if cols == column and where]
    assert predicates, f"no partial index on {column}"
    assert any(where in condition for where in predicates), (condition, predicates)
