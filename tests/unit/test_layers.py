"""The layering holds: HTTP → service → store, nothing reaching back, no circles.

Read from the source's import statements (every one, lazy and TYPE_CHECKING
ones included: a type-only import back up is still an arrow the wrong way).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import accepted

SRC = Path(accepted.__file__).parent

# Each floor, and the floors above it that it may not import.
# `supervisor` (process supervision: a parent running `http`'s server in N
# children) is the floor above `http`, under `cli` alone.
FORBIDDEN = {
    "types": {"store", "service", "http", "tasks", "supervisor", "worker", "client", "cli"},
    "store": {"service", "http", "tasks", "supervisor", "worker", "client", "cli"},
    "service": {"http", "tasks", "supervisor", "worker", "client", "cli"},
    "tasks": {"http", "supervisor", "worker", "client", "cli"},
    "http": {"supervisor", "worker", "client", "cli"},
    "supervisor": {"worker", "client", "cli"},
}


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(name: str) -> bool:
    target = SRC.parent / name.replace(".", "/")
    return target.is_dir() or target.with_suffix(".py").exists()


def _imports(path: Path) -> set[str]:
    """The accepted modules `path` imports (`from pkg import submodule` as the submodule)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("accepted.")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("accepted"):
            module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if _exists(sub) else module)
    return found


GRAPH = {_module(path): _imports(path) for path in SRC.rglob("*.py")}


def _floor(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("floor", sorted(FORBIDDEN))
def test_no_floor_imports_one_above_it(floor: str) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _floor(module) == floor
        for target in targets
        if _floor(target) in FORBIDDEN[floor]
    )
    assert wrong == []


def test_no_circles_through_the_store_the_service_or_the_types() -> None:
    inner = {m: t for m, t in GRAPH.items() if _floor(m) in {"types", "store", "service"}}

    def reaches(start: str) -> set[str]:
        seen, todo = set(), [t for t in inner.get(start, ()) if t in inner]
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo += [t for t in inner[module] if t in inner]
        return seen

    circles = sorted(m for m in inner if m in reaches(m))
    assert circles == []


BACKENDS = {"accepted.store.sqlite", "accepted.store.postgres"}


def test_outside_the_store_a_backend_is_reached_through_its_public_surface() -> None:
    """`accepted.store` (open_store, check_driver, hold_database, sqlite_path) is the way in."""
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _floor(module) != "store"
        for target in targets
        if target in BACKENDS
    )
    assert wrong == []
