"""Endpoints about the API itself: its OpenAPI document and a human docs page.

Both are static files shipped in the package (http/static/); a test keeps the
OpenAPI paths and methods in step with the route table.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from accepted.http.request import Request, Response


@cache
def static(name: str) -> bytes:
    return files("accepted.http").joinpath("static", name).read_bytes()


async def openapi(ctx: object, request: Request) -> Response:
    return Response.json(200, static("openapi.json"))


async def docs(ctx: object, request: Request) -> Response:
    return Response(200, static("docs.html"), [(b"content-type", b"text/html; charset=utf-8")])
