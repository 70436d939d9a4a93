"""Matching a request path to a route and its path parameters.

Matching is on the raw path (ASGI `raw_path`), split on `/`, with each
segment percent-decoded afterwards: a queue named `a/b` is `/queues/a%2Fb/pause`,
one segment. Paths without parameters are one dict lookup; the rest walk a
tree of segments, where a literal segment wins over a parameter (`/jobs/bulk`
before `/jobs/{id}`), falling back to the parameter when the literal branch
leads nowhere. One trailing slash is dropped before matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from accepted.http.route import Route


@dataclass(slots=True)
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    param: tuple[str, _Node] | None = None
    rest: str | None = None  # a `{name:path}` parameter taking the rest of the path
    rest_route: Route | None = None
    route: Route | None = None


class Router:
    """Routes by path: `match` gives the route and its decoded path parameters, or None."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self.exact: dict[str, Route] = {}
        # `/jobs/{id}`-shaped routes (literal, then one last parameter) by their prefix:
        # the hot `/jobs/<id>` is then two dict lookups, no walk.
        self.last_param: dict[str, tuple[str, Route]] = {}
        self.root = _Node()
        for route in routes:
            prefix, _, last = route.path.rpartition("/")
            if "{" not in route.path:
                self.exact[route.path] = route
            elif "{" not in prefix and _is_param(last) and not last.endswith(":path}"):
                self.last_param[prefix] = (last[1:-1], route)
            self._add(route)

    def _add(self, route: Route) -> None:
        node = self.root
        segments = _segments(route.path)
        for i, segment in enumerate(segments):
            if segment.startswith("{") and segment.endswith(":path}"):
                if i != len(segments) - 1:
                    raise ValueError(f"{route.path}: a {{name:path}} segment must come last")
                node.rest, node.rest_route = segment[1:-6], route
                return
            if segment.startswith("{") and segment.endswith("}"):
                name = segment[1:-1]
                if node.param is None:
                    node.param = (name, _Node())
                elif node.param[0] != name:
                    raise ValueError(
                        f"{route.path}: {{{name}}} where another route has {{{node.param[0]}}}"
                    )
                node = node.param[1]
            else:
                node = node.literal.setdefault(segment, _Node())
        if node.route is not None:
            raise ValueError(f"two routes for {route.path}")
        node.route = route

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        """`path` is the raw (still percent-encoded) path, without the query string."""
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        route = self.exact.get(path)
        if route is not None:
            return route, {}
        if not path.startswith("/"):
            return None  # `*` (OPTIONS) or nothing: no route
        if "%" not in path:
            # Equivalent to the walk: the prefix is all literal, and the whole path is not.
            prefix, _, last = path.rpartition("/")
            named = self.last_param.get(prefix)
            if named is not None and last:
                return named[1], {named[0]: last}
        segments = _segments(path)
        if "%" in path:
            try:
                segments = [unquote(s, errors="strict") for s in segments]
            except UnicodeDecodeError:
                return None  # names no route: a path is UTF-8 once decoded
        params: dict[str, str] = {}
        found = _walk(self.root, segments, 0, params)
        return None if found is None else (found, params)


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _segments(path: str) -> list[str]:
    return path[1:].split("/") if path != "/" else [""]


def _walk(node: _Node, segments: list[str], i: int, params: dict[str, str]) -> Route | None:
    if i == len(segments):
        return node.route
    segment = segments[i]
    child = node.literal.get(segment)
    if child is not None:
        found = _walk(child, segments, i + 1, params)
        if found is not None:
            return found
    if node.param is not None and segment:
        name, child = node.param
        found = _walk(child, segments, i + 1, params)
        if found is not None:
            params[name] = segment
            return found
    if node.rest_route is not None and node.rest is not None and _plain_rest(segments[i:]):
        params[node.rest] = "/".join(segments[i:])
        return node.rest_route
    return None


def _plain_rest(segments: list[str]) -> bool:
    """No empty, `.` or `..` segment: a rest parameter never climbs out of its folder."""
    return all(s and s not in (".", "..") and "/" not in s for s in segments)
