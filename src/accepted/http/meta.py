"""Endpoints about the API itself: its OpenAPI document and a human docs page.

Both are generated from the route table (openapi.py, docs_page.py) on first
use and kept: the table does not change while the server runs.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

from accepted.http import docs_page, openapi
from accepted.http.request import Request, Response


@cache
def document() -> dict[str, Any]:
    # Imported here: routes.py imports this module for its handlers.
    from accepted.http.routes import ROUTES, TAGS

    return openapi.build(ROUTES, TAGS)


@cache
def openapi_bytes() -> bytes:
    return msgspec.json.encode(document())


@cache
def docs_bytes() -> bytes:
    return docs_page.render(document()).encode()


async def openapi_json(ctx: object, request: Request) -> Response:
    return Response.json(200, openapi_bytes())


async def docs(ctx: object, request: Request) -> Response:
    return Response(200, docs_bytes(), [(b"content-type", b"text/html; charset=utf-8")])
