"""Endpoints about the API itself: its OpenAPI document and a human docs page.

Both are generated from the route table (openapi.py, docs_page.py); the app
hands them to the handlers in the Context, so this module needs no route table
of its own (the route table imports it for these handlers).
"""

from __future__ import annotations

from accepted.http.context import Context, Documents
from accepted.http.request import Request, Response


def _documents(ctx: Context) -> Documents:
    assert ctx.documents is not None, "create_app sets the API documents"
    return ctx.documents


async def openapi_json(ctx: Context, request: Request) -> Response:
    return Response.json(200, _documents(ctx).openapi_bytes)


async def docs(ctx: Context, request: Request) -> Response:
    return Response(
        200, _documents(ctx).docs_bytes, [(b"content-type", b"text/html; charset=utf-8")]
    )
