"""The API documents served by the server stay in step with the code.

`GET /openapi.json` must describe exactly the routes of `routes.ROUTES`, every
error code of `errors.py`, and the job exactly as `render.JobView` writes it;
`GET /docs` must be a self-contained page covering every path. The checks of
the document's content read the packaged file (the same bytes the server
sends, see `meta.static`); the checks of serving go through a real server.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from openapi_spec_validator import validate

import accepted
from accepted import errors
from accepted.errors import AcceptedError
from accepted.http import meta, parse, render
from accepted.http.routes import ROUTES
from accepted.types import CallbackState, JobStatus

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
HTTP_API_MD = Path(__file__).resolve().parents[2] / "docs" / "http-api.md"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(meta.static("openapi.json"))
    return loaded


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][name]
    return found


def wire_error_codes() -> set[str]:
    """Codes of the errors.py classes: the wire's vocabulary (the client's own errors
    subclass AcceptedError too, but are raised in the client and never sent)."""
    codes: set[str] = set()
    pending: list[type[AcceptedError]] = [AcceptedError]
    while pending:
        cls = pending.pop()
        if cls.__module__ == errors.__name__:
            codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return codes


def field_names(struct: type[msgspec.Struct]) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(struct)}


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


def test_openapi_paths_and_methods_are_the_route_table(http: httpx.Client) -> None:
    served = http.get("/openapi.json").json()
    documented = {
        (path, method.upper())
        for path, item in served["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    routed = {(route.path, method) for route in ROUTES for method in route.methods}
    assert ("/jobs/{id}", "GET") in routed
    assert documented == routed


@pytest.mark.documents("docs-200")
def test_docs_page_is_self_contained_html_naming_every_path(http: httpx.Client) -> None:
    response = http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    for route in ROUTES:
        assert route.path in page, route.path
    # Nothing fetched from elsewhere: the machine serving it may have no network.
    assert not re.search(r"""<(script|link|img|iframe)\b""", page, re.IGNORECASE)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page


# -- the document's content against the code -----------------------------------


def test_error_code_enum_is_every_code_of_errors_py(document: dict[str, Any]) -> None:
    assert set(schema(document, "ErrorCode")["enum"]) == wire_error_codes()
    error_body = schema(document, "ErrorBody")
    assert set(error_body["properties"]) == field_names(render.ErrorBody)
    assert set(schema(document, "Error")["properties"]) == field_names(render.ErrorView)


def test_job_schema_is_render_job_view(document: dict[str, Any]) -> None:
    job = schema(document, "Job")
    view_fields = field_names(render.JobView)
    # `lease` is only in want_job answers: the TakenJob schema adds it.
    assert set(job["properties"]) == view_fields - {"lease"}
    assert set(job["required"]) == view_fields - {"lease"}
    taken_extra = schema(document, "TakenJob")["allOf"][1]
    assert set(taken_extra["properties"]) == {"lease"} == set(taken_extra["required"])
    assert set(schema(document, "Callback")["properties"]) == field_names(render.CallbackView)
    assert schema(document, "JobStatus")["enum"] == [s.value for s in JobStatus]
    callback_states = schema(document, "Callback")["properties"]["state"]["enum"]
    assert callback_states == [s.value for s in CallbackState]


def test_request_body_schemas_are_the_parsed_structs(document: dict[str, Any]) -> None:
    pairs: list[tuple[str, type[msgspec.Struct]]] = [
        ("EnqueueRequest", parse.EnqueueBody),
        ("EnqueueItem", parse.BatchItem),
        ("WantJobRequest", parse.WantJobBody),
        ("ReportRequest", parse.ReportBody),
        ("ReportItem", parse.BatchReportItem),
    ]
    for name, struct in pairs:
        assert set(schema(document, name)["properties"]) == field_names(struct), name


def test_every_docs_anchor_cited_exists_in_the_page_and_the_markdown(
    document: dict[str, Any],
) -> None:
    page = meta.static("docs.html").decode()
    markdown = HTTP_API_MD.read_text()
    page_ids = set(re.findall(r'id="([^"]+)"', page))
    markdown_ids = set(re.findall(r'<a id="([^"]+)"></a>', markdown))
    cited = set(re.findall(r"\(/docs#([a-z0-9-]+)\)", json.dumps(document)))
    assert cited, "the OpenAPI document should cite the answers it describes"
    assert cited <= page_ids
    # docs.html is rendered from docs/http-api.md: every documented answer is on both.
    assert markdown_ids <= page_ids
