"""Paths as the router reads them, over a real server: parameters are single
percent-decoded segments (SPEC: queue names in paths are percent-encoded)."""

from __future__ import annotations

import httpx
import pytest

from tests.http.helpers import assert_error, enqueue


@pytest.mark.documents("paths-percent-encoded")
def test_a_path_parameter_is_percent_decoded(api: httpx.Client, q: str) -> None:
    job = enqueue(api, q)
    encoded = "".join(f"%{ord(c):02X}" if c == "-" else c for c in job["id"])
    assert "%2D" in encoded
    response = api.get(f"/jobs/{encoded}")
    assert response.status_code == 200
    assert response.json()["id"] == job["id"]


@pytest.mark.documents("paths-percent-encoded")
def test_an_encoded_slash_stays_inside_its_segment(api: httpx.Client) -> None:
    # One segment, decoded to "a/b": a job id that names no job, not a missing route.
    assert assert_error(api.get("/jobs/a%2Fb"), 404, "a/b")["code"] == "job_not_found"
    assert assert_error(api.get("/jobs/a/b"), 404)["code"] == "not_found"


@pytest.mark.documents("paths-percent-encoded")
def test_a_literal_segment_may_be_percent_encoded_too(api: httpx.Client, q: str) -> None:
    response = api.post("/j%6Fbs", json={"queue": q})
    assert response.status_code == 202
    assert response.json()["queue"] == q


@pytest.mark.documents("paths-percent-encoded")
def test_a_segment_that_is_not_utf8_once_decoded_names_no_route(api: httpx.Client) -> None:
    assert assert_error(api.get("/jobs/%FF"), 404)["code"] == "not_found"
