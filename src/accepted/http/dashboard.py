"""The dashboard's files: `GET /` redirects to `/ui`, which serves a page whose
scripts call the public API like any other client (no private endpoint).

The files are plain HTML, CSS and JavaScript modules shipped in the package
(http/static/ui/): nothing to build, nothing fetched from elsewhere. Only the
files that are there are served, by exact name, so a path can never reach
outside that folder.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from accepted.errors import NotFound
from accepted.http.request import Request, Response

UI_FOLDER = ("static", "ui")

CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
}

# The page holds a token in the browser, so nothing but its own files may run
# in it: no inline script, no other origin, no framing (clickjacking).
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; "
        b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Small files that change with the server: revalidate, never serve stale.
    (b"cache-control", b"no-cache"),
]


@cache
def ui_files() -> dict[str, bytes]:
    """Every file of the dashboard by name, read once."""
    folder = files("accepted.http").joinpath(*UI_FOLDER)
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and _suffix(entry.name) in CONTENT_TYPES
    }


def _suffix(name: str) -> str:
    return name[name.rfind(".") :] if "." in name else ""


def _file(name: str) -> Response:
    body = ui_files().get(name)
    if body is None:
        raise NotFound(f"the dashboard has no file {name!r}")
    content_type = CONTENT_TYPES[_suffix(name)]
    return Response(200, body, [(b"content-type", content_type), *SECURITY_HEADERS])


async def page(ctx: object, request: Request) -> Response:
    return _file("index.html")


async def asset(ctx: object, request: Request) -> Response:
    return _file(request.params["file"])


async def root(ctx: object, request: Request) -> Response:
    """`/` is where a person lands first; a script wants `/healthz` or `/docs`."""
    return Response(302, b"", [(b"location", b"/ui")])
