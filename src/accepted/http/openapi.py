"""The OpenAPI 3.1 document, generated from the route table and the msgspec types.

Nothing here is written by hand about an endpoint: paths, methods, headers
and their ranges, bodies and answers all come from the route table's declarations
(route.Op, route.Answer, params.Param) and from the Structs themselves
(`msgspec.json.schema_components`). What is said once for the whole API (the
conventions, the error vocabulary, the answers every path can give) is here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property
from typing import Any

import msgspec

import accepted
from accepted import errors
from accepted.errors import AcceptedError
from accepted.http import docs_page
from accepted.http.answers import FORBIDDEN, UNAUTHORIZED
from accepted.http.params import ALLOW, Param
from accepted.http.render import ErrorView
from accepted.http.route import Answer, Op, Route
from accepted.service.auth import Access

REF = "#/components/schemas/{name}"
ERROR_REF = {"$ref": REF.format(name="ErrorView")}

DESCRIPTION = (
    "Producers enqueue jobs (POST /jobs); workers take them (POST /want_job) and report "
    "back (PUT /jobs/{id}). Conventions: every path also answers with one trailing slash "
    "(/jobs/, /want_job/); path parameters are percent-encoded (a queue named a/b is a%2Fb); "
    "header names are case-insensitive; seconds may be fractional; times are ISO 8601 UTC "
    'with Z. Every error is {"error": {"code", "message"}}. Any request may also get 404 '
    "not_found (no such route), 405 method_not_allowed (with an Allow header) or 500 error "
    "(a bug). The full contract, with an anchor per answer: docs/http-api.md; this document "
    "as a page: GET /docs."
)

# The answers any path can give, stated once (see DESCRIPTION).
COMMON: dict[str, Answer] = {
    "NotFound": Answer("No route has this path (not_found).", anchors=("any-404-route",)),
    "MethodNotAllowed": Answer(
        "The path does not answer this method (method_not_allowed); Allow lists those it does.",
        headers=(ALLOW,),
        anchors=("any-405",),
    ),
    "InternalError": Answer("A bug (error); the server log has the details."),
}


BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API token (`Authorization: Bearer <token>`), needed with auth on.",
}


class ApiDocuments:
    """The OpenAPI document and the /docs page of one route table, built on first
    use and kept: the table does not change while the server runs."""

    def __init__(self, routes: Iterable[Route], tags: dict[str, str]) -> None:
        self._routes = tuple(routes)
        self._tags = tags

    @cached_property
    def document(self) -> dict[str, Any]:
        return build(self._routes, self._tags)

    @cached_property
    def openapi_bytes(self) -> bytes:
        return msgspec.json.encode(self.document)

    @cached_property
    def docs_bytes(self) -> bytes:
        return docs_page.render(self.document).encode()


def build(routes: Iterable[Route], tags: dict[str, str]) -> dict[str, Any]:
    """The whole document for `routes`; `tags` describes each tag the routes use."""
    routes = tuple(routes)
    schemas = _Schemas(routes)
    responses: dict[str, Any] = {}
    paths = {_openapi_path(route.path): _path_item(route, schemas, responses) for route in routes}
    _unique_operation_ids(paths)
    for name, answer in COMMON.items():
        responses[name] = _answer(500, answer, schemas)
    used = {op.tag for route in routes for op in route.ops.values()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "accepted",
            "version": accepted.__version__,
            "summary": "A job queue over plain HTTP.",
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [{"name": t, "description": tags.get(t, "")} for t in tags if t in used]
        + [{"name": t} for t in sorted(used - set(tags))],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": responses,
            "securitySchemes": {"bearer": BEARER},
        },
        "security": [{"bearer": []}],
    }


class _Schemas:
    """Every body type of the routes, generated in one go so shared Structs are one component."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        types: list[Any] = [ErrorView]
        for route in routes:
            for op in route.ops.values():
                types += [op.body] if op.body is not None else []
                types += [_body(a) for a in op.responses.values() if _body(a) is not None]
        self.types = types
        found, self.components = msgspec.json.schema_components(
            types, schema_hook=_schema_hook, ref_template=REF
        )
        self.found = list(found)
        self._error_codes()

    def of(self, kind: Any) -> dict[str, Any]:
        schema: dict[str, Any] = self.found[self.types.index(kind)]
        return schema

    def _error_codes(self) -> None:
        """ErrorBody.code is a str in the code; on the wire it is one of errors.py's codes."""
        self.components["ErrorCode"] = {
            "type": "string",
            "enum": sorted(wire_error_codes()),
            "description": "A stable machine code (docs/http-api.md, Errors).",
        }
        code = self.components["ErrorBody"]["properties"]["code"]
        self.components["ErrorBody"]["properties"]["code"] = {
            "$ref": REF.format(name="ErrorCode"),
            "description": code.get("description", ""),
        }


def _schema_hook(kind: Any) -> dict[str, Any]:
    """`object` is any JSON value; other types msgspec cannot describe need a Meta."""
    if kind is object:
        return {"description": "any JSON value"}  # msgspec wants a non-empty schema
    raise TypeError(
        f"no JSON schema for {kind!r}: annotate it with msgspec.Meta(extra_json_schema=...)"
    )


def wire_error_codes() -> set[str]:
    """Codes of errors.py's classes: the wire's vocabulary (the client's own errors
    subclass AcceptedError too, but are raised in the client and never sent)."""
    codes: set[str] = set()
    pending: list[type[AcceptedError]] = [AcceptedError]
    while pending:
        cls = pending.pop()
        if cls.__module__ == errors.__name__:
            codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return codes


def _body(answer: Answer | str) -> Any:
    return None if isinstance(answer, str) else answer.body


def path_names(path: str) -> list[str]:
    """The parameters a path template names: /jobs/{id} -> ["id"]."""
    return re.findall(r"\{(\w+)(?::path)?\}", path)


def _openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+):path\}", r"{\1}", path)


def _path_item(route: Route, schemas: _Schemas, responses: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    declared = {param.name for param in route.params}
    # An undeclared path parameter still makes a valid document (the drift test names it).
    named = [Param(n, str, "", where="path") for n in path_names(route.path) if n not in declared]
    if route.params or named:
        item["parameters"] = [_parameter(param) for param in (*route.params, *named)]
    for method, op in route.ops.items():
        item[method.lower()] = _operation(op, schemas, responses)
    return item


def _operation(op: Op, schemas: _Schemas, responses: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _camel(op.handler.__name__),
        "tags": [op.tag],
        "summary": op.summary,
    }
    description = " ".join(filter(None, [op.description, _cite((op.anchor,) if op.anchor else ())]))
    if description:
        operation["description"] = description
    parameters = [_parameter(param) for param in op.params]
    parameters += [_parameter(param.query_alias()) for param in op.params if param.alias]
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": schemas.of(op.body)}},
        }
    answers = dict(op.responses)
    if op.access is None or op.access.access is not Access.PUBLIC:
        # Needs a token when auth is on: say so once here, not in every route.
        operation["security"] = [{"bearer": []}]
        answers.setdefault(401, UNAUTHORIZED)
        answers.setdefault(403, FORBIDDEN)
    else:
        operation["security"] = []
    operation["responses"] = {
        str(status): _response(status, answer, schemas, responses)
        for status, answer in sorted(answers.items())
    }
    if not op.declared:
        operation["x-undeclared"] = True
    if not operation["responses"]:  # OpenAPI wants at least one
        operation["responses"]["default"] = {"description": "Not declared yet."}
    return operation


def _response(
    status: int, answer: Answer | str, schemas: _Schemas, shared: dict[str, Any]
) -> dict[str, Any]:
    if isinstance(answer, str):
        answer = Answer(answer)
    if answer.name is None:
        return _answer(status, answer, schemas)
    shared.setdefault(answer.name, _answer(status, answer, schemas))
    return {"$ref": f"#/components/responses/{answer.name}"}


def _answer(status: int, answer: Answer, schemas: _Schemas) -> dict[str, Any]:
    text = " ".join(filter(None, [answer.description, _cite(answer.anchors)]))
    found: dict[str, Any] = {"description": text}
    if answer.anchors:
        found["x-anchors"] = list(answer.anchors)
    if answer.headers:
        found["headers"] = {h.name: _header(h) for h in answer.headers}
    schema = _answer_schema(status, answer, schemas)
    if schema is not None:
        media: dict[str, Any] = {"schema": schema}
        if answer.example is not None:
            media["example"] = answer.example
        found["content"] = {answer.media_type: media}
    return found


# OpenAPI 3.1 has the `schema` of text/event-stream describe one event (3.2 moves
# that to `itemSchema`): each of ours carries `event: <status>` and `data: <job JSON>`.
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}


def _answer_schema(status: int, answer: Answer, schemas: _Schemas) -> dict[str, Any] | None:
    if answer.media_type == "text/event-stream":
        return SSE_EVENT
    if answer.body is not None:
        return schemas.of(answer.body)
    return ERROR_REF if status >= 400 else None


def _cite(anchors: Iterable[str]) -> str:
    """Links to docs/http-api.md's answers, which /docs gives as ids."""
    return " ".join(f"[{anchor}](/docs#{anchor})" for anchor in anchors)


def _unique_operation_ids(paths: dict[str, Any]) -> None:
    """A handler serving two routes gets its method and path in the second id."""
    seen: set[str] = set()
    for path, item in paths.items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if operation["operationId"] in seen:
                words = re.sub(r"\W+", "_", f"{method}_{path}").strip("_")
                operation["operationId"] = _camel(words)
            seen.add(operation["operationId"])


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def param_schema(param: Param[Any]) -> dict[str, Any]:
    kind = {int: "integer", float: "number", str: "string"}[param.kind]
    schema: dict[str, Any] = {"type": kind, **param.constraints()}
    if param.repeated:
        return {"type": "array", "items": schema}
    return schema


def _parameter(param: Param[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": param.name,
        "in": param.where,
        "required": param.required or param.where == "path",
        "description": param.description,
        "schema": param_schema(param),
    }
    if param.repeated:
        found["style"], found["explode"] = "form", True
    return found


def _header(param: Param[Any]) -> dict[str, Any]:
    return {"description": param.description, "schema": param_schema(param)}
