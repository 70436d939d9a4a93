"""The API documents stay in step with the code, and fail loudly when they drift.

`GET /openapi.json` and `GET /docs` are generated from `routes.ROUTES` and the
msgspec types (openapi.py, docs_page.py). These tests hold that every route
and method is declared, that the document is valid OpenAPI 3.1 stating every
range, that it names every error code and describes the job exactly as
`render.JobView` writes it, and that docs/http-api.md mentions every path and
has every anchor the document cites. The checks of content read the generated
document (the same bytes the server sends); the checks of serving go through
a real server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from openapi_spec_validator import validate

import accepted
from accepted.http import openapi, parse, render
from accepted.http.context import Context
from accepted.http.openapi import ApiDocuments
from accepted.http.request import Request, Response
from accepted.http.route import Answer, Op, Route
from accepted.http.routes import ROUTES, TAGS
from accepted.types import CallbackState, JobStatus

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
HTTP_API_MD = Path(__file__).resolve().parents[2] / "docs" / "http-api.md"

HOW_TO_DECLARE = (
    "declare it in src/accepted/http/routes/ (the module of its resource): map the method to "
    'Op(handler, "summary", params=(...), body=..., responses={200: Answer(...)}) '
    "instead of the bare handler, and list the path's {parameters} in Route(..., params=...); "
    "http/routes/__init__.py's docstring shows a whole declaration"
)


DOCUMENTS = ApiDocuments(ROUTES, TAGS)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return DOCUMENTS.document


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


def field_names(struct: type[msgspec.Struct]) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(struct)}


def undeclared(routes: tuple[Route, ...]) -> list[str]:
    """What the route table leaves undeclared, each with how to declare it."""
    problems = []
    for route in routes:
        names = openapi.path_names(route.path)
        missing = sorted(set(names) - {param.name for param in route.params})
        if missing:
            problems.append(
                f"{route.path}: path parameters {missing} are undeclared; " + HOW_TO_DECLARE
            )
        for method, op in route.ops.items():
            where = f"{method} {route.path}"
            if not op.declared:
                problems.append(f"{where} is undeclared; " + HOW_TO_DECLARE)
            elif not op.responses:
                problems.append(f"{where} declares no responses; " + HOW_TO_DECLARE)
            elif not any(status < 400 for status in op.responses):
                problems.append(f"{where} declares no 2xx or 3xx answer; " + HOW_TO_DECLARE)
    return problems


# -- served by a real server ---------------------------------------------------


@pytest.mark.documents("openapi-200")
def test_openapi_json_is_a_valid_openapi_3_1_document(http: httpx.Client) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    served = response.json()
    assert re.fullmatch(r"3\.1\.\d+", served["openapi"])
    validate(served)
    assert served["info"]["version"] == accepted.__version__
    assert served == DOCUMENTS.document


def test_openapi_paths_and_methods_are_the_route_table(http: httpx.Client) -> None:
    served = http.get("/openapi.json").json()
    documented = {
        (path, method.upper())
        for path, item in served["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    routed = {
        (re.sub(r":path\}", "}", route.path), method) for route in ROUTES for method in route.ops
    }
    assert ("/jobs/{id}", "GET") in routed
    assert documented == routed


@pytest.mark.documents("docs-200")
def test_docs_page_is_self_contained_html_naming_every_path(http: httpx.Client) -> None:
    response = http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for path in DOCUMENTS.document["paths"]:
        assert f"<code>{path}</code>" in page, path
    # Nothing fetched from elsewhere: the machine serving it may have no network.
    assert not re.search(r"""<(script|link|img|iframe)\b""", page, re.IGNORECASE)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page


# -- the table against the document -----------------------------------------------


def test_every_route_and_method_is_declared() -> None:
    problems = undeclared(ROUTES)
    assert not problems, "\n".join(problems)


def test_an_undeclared_route_is_named_with_how_to_declare_it() -> None:
    async def bare(ctx: Context, request: Request) -> Response:
        return Response.empty(204)

    routes = (
        Route("/things/{name}", {"GET": bare}, "A thing"),
        Route("/other", {"POST": Op(bare, "Other", responses={400: "bad"})}),
    )
    problems = undeclared(routes)
    assert len(problems) == 3
    assert problems[0].startswith("/things/{name}: path parameters ['name'] are undeclared")
    assert problems[1].startswith("GET /things/{name} is undeclared")
    assert problems[2].startswith("POST /other declares no 2xx or 3xx answer")
    assert all("http/routes/" in problem and "Op(" in problem for problem in problems)
    # An undeclared route still routes, and still makes a valid document.
    validate(openapi.build(routes, {}))


def test_every_tag_used_is_described(document: dict[str, Any]) -> None:
    used = {op.tag for route in ROUTES for op in route.ops.values()}
    assert used <= set(TAGS), f"add the tags {sorted(used - set(TAGS))} to routes.TAGS"
    assert all(tag.get("description") for tag in document["tags"])


def test_every_number_a_request_can_carry_states_its_maximum(document: dict[str, Any]) -> None:
    """SPEC: every seconds value has a documented maximum that /openapi.json states."""
    unbounded = [
        where
        for where, found in request_schemas(document)
        if found.get("type") in ("integer", "number")
        and "maximum" not in found
        and "x-capped-by" not in found  # a wait, cut to a setting, never refused
    ]
    assert not unbounded, f"numbers without a maximum: {unbounded}"
    capped = {where for where, found in request_schemas(document) if "x-capped-by" in found}
    assert capped == {  # the waits, and only they
        "/jobs X-Accepted-Wait-Result",
        "/jobs/{id} X-Accepted-Wait-Result",
        "/want_job X-Accepted-Block-For",
        "/want_job block",
    }


def test_every_parameter_and_request_field_has_a_description(document: dict[str, Any]) -> None:
    fields: dict[str, dict[str, Any]] = {}
    for where, found in request_schemas(document):
        fields.setdefault(where, found)  # the field itself, before its anyOf branches
    bare = [
        where
        for where, found in fields.items()
        if where.count(".") == 1 and not where.endswith("[]") and not _described(found)
    ]
    bare += [
        f"{path} {param['name']}"
        for path, item in document["paths"].items()
        for op in [item, *(item[m] for m in item if m in HTTP_METHODS)]
        for param in op.get("parameters", [])
        if not param.get("description")
    ]
    assert not bare, f"undescribed (give the field a msgspec.Meta(description=...)): {bare}"


def _described(prop: dict[str, Any]) -> bool:
    """A nullable field's description may sit on its non-null branch."""
    branches = prop.get("anyOf", [])
    return bool(prop.get("description")) or any(b.get("description") for b in branches)


def request_schemas(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema a request can carry a value of: parameters and body fields, walked."""
    seen: set[str] = set()

    def walk(where: str, found: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        if "$ref" in found:
            name = found["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                yield from walk(name, schema(document, name))
            return
        yield where, found
        for key in ("anyOf", "oneOf", "allOf"):
            for branch in found.get(key, []):
                yield from walk(where, branch)
        if "items" in found:
            yield from walk(f"{where}[]", found["items"])
        for field, prop in found.get("properties", {}).items():
            yield from walk(f"{where}.{field}", prop)

    for path, item in document["paths"].items():
        for op in [item, *(item[m] for m in item if m in HTTP_METHODS)]:
            for param in op.get("parameters", []):
                yield from walk(f"{path} {param['name']}", param["schema"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                yield from walk(f"{path} body", body["schema"])


# -- the document's content against the code -----------------------------------


def test_error_code_enum_is_every_code_of_errors_py(document: dict[str, Any]) -> None:
    assert set(schema(document, "ErrorCode")["enum"]) == openapi.wire_error_codes()
    assert "job_not_found" in schema(document, "ErrorCode")["enum"]
    error_body = schema(document, "ErrorBody")
    assert set(error_body["properties"]) == field_names(render.ErrorBody)
    assert error_body["properties"]["code"]["$ref"].endswith("/ErrorCode")
    assert set(schema(document, "ErrorView")["properties"]) == field_names(render.ErrorView)
    for name in ("NotFound", "MethodNotAllowed", "InternalError", "BadRequest"):
        answer = document["components"]["responses"][name]
        assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorView")
    assert "Allow" in document["components"]["responses"]["MethodNotAllowed"]["headers"]


def test_job_schema_is_render_job_view(document: dict[str, Any]) -> None:
    job = schema(document, "JobView")
    view_fields = field_names(render.JobView)
    assert set(job["properties"]) == view_fields
    # `lease` is only in want_job answers: the one field that may be missing.
    assert set(job["required"]) == view_fields - {"lease"}
    assert set(schema(document, "CallbackView")["properties"]) == field_names(render.CallbackView)
    assert schema(document, "JobStatus")["enum"] == sorted(s.value for s in JobStatus)
    assert schema(document, "CallbackState")["enum"] == sorted(s.value for s in CallbackState)


def test_request_body_schemas_are_the_parsed_structs(document: dict[str, Any]) -> None:
    for struct in (
        parse.EnqueueBody,
        parse.BatchItem,
        parse.WantJobBody,
        parse.ReportBody,
        parse.BatchReportItem,
    ):
        assert set(schema(document, struct.__name__)["properties"]) == field_names(struct)
    post = document["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]
    batch = next(s for s in post["schema"]["anyOf"] if s.get("type") == "array")
    assert batch["maxItems"] == 1000 and batch["minItems"] == 1
    status = schema(document, "ReportBody")["properties"]["status"]
    assert status["enum"] == [s.value for s in parse.REPORT_STATUSES]


def test_a_header_range_is_the_one_requests_are_held_to(document: dict[str, Any]) -> None:
    """One declaration: the maximum the document states is the one parse enforces."""
    post = document["paths"]["/jobs"]["post"]
    priority = next(p for p in post["parameters"] if p["name"] == "X-Accepted-Priority")
    assert priority["schema"] == {"type": "integer", "minimum": 0, "maximum": 3, "default": 1}
    item = schema(document, "BatchItem")["properties"]["priority"]["anyOf"][0]
    assert (item["minimum"], item["maximum"]) == (0, 3)
    take = document["paths"]["/want_job"]["post"]["parameters"]
    count = {p["name"]: p["schema"] for p in take}
    assert count["X-Accepted-Count"]["maximum"] == count["count"]["maximum"] == 1000
    answer = document["paths"]["/jobs"]["post"]["responses"]["202"]
    assert "Location" in answer["headers"]


def test_every_path_is_mentioned_in_http_api_md(document: dict[str, Any]) -> None:
    markdown = HTTP_API_MD.read_text()
    missing = [path for path in document["paths"] if path not in markdown]
    assert not missing, f"docs/http-api.md does not mention {missing}"


def test_every_anchor_the_document_cites_is_on_the_page_and_in_the_markdown(
    document: dict[str, Any],
) -> None:
    page = DOCUMENTS.docs_bytes.decode()
    markdown = HTTP_API_MD.read_text()
    page_ids = re.findall(r'id="([^"]+)"', page)
    assert len(page_ids) == len(set(page_ids)), "an id is on the page twice"
    markdown_ids = set(re.findall(r'<a id="([^"]+)"></a>', markdown))
    cited = set(re.findall(r"\(/docs#([a-z0-9-]+)\)", msgspec.json.encode(document).decode()))
    declared = {
        anchor
        for route in ROUTES
        for op in route.ops.values()
        for answer in op.responses.values()
        if isinstance(answer, Answer)
        for anchor in answer.anchors
    }
    assert cited >= declared >= {"enqueue-202", "want-204", "any-413"}
    assert cited <= set(page_ids), sorted(cited - set(page_ids))
    assert cited <= markdown_ids, f"not anchors of docs/http-api.md: {sorted(cited - markdown_ids)}"
