"""Finding the job function a worker runs from its `module:function` name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["load_function"]


def load_function(spec: str) -> Callable[..., Any]:
    """`package.module:function` (or `module:Class.method`) to the callable it names.

    Raises ValueError with a message fit for a person when it names nothing callable.
    """
    module_name, colon, path = spec.partition(":")
    if not colon or not module_name or not path:
        raise ValueError(f"{spec!r} is not of the form module:function")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc}") from exc
    for name in path.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise ValueError(f"{module_name!r} has no {path!r}") from None
    if not callable(target):
        raise ValueError(f"{spec!r} is not callable")
    function: Callable[..., Any] = target
    return function
