"""Answers that many operations share, declared once (see route.Answer).

Each has a `name`, so `/openapi.json` states it once under
`#/components/responses` and every operation refers to it.
"""

from __future__ import annotations

from accepted.http.route import Answer

BAD_REQUEST = Answer(
    "Malformed JSON (malformed_json); a body of the wrong shape or a bad field "
    "(invalid_field); a bad header (invalid_header) or query parameter (invalid_query). "
    "Nothing was changed.",
    name="BadRequest",
    example={"error": {"code": "invalid_field", "message": "queue must be a non-empty string"}},
)
JOB_NOT_FOUND = Answer(
    "No such job (job_not_found): never created, deleted, purged after its result TTL, "
    "or the id is not a UUID.",
    name="JobNotFound",
    example={
        "error": {
            "code": "job_not_found",
            "message": "no job 951e20f9-2991-4ee4-b1e3-47ddc9fbc660",
        }
    },
)
TOO_LARGE = Answer(
    "The body is over the body_limit setting (1 MiB); refused while reading, nothing was changed.",
    anchors=("any-413",),
    name="PayloadTooLarge",
    example={
        "error": {
            "code": "payload_too_large",
            "message": "request body is over the 1048576-byte limit (body_limit setting)",
        }
    },
)
UNAVAILABLE = Answer(
    "The database could not be reached or refused the write (store_unavailable); "
    "nothing was acknowledged, safe to retry.",
    anchors=("any-503",),
    name="StoreUnavailable",
    example={
        "error": {
            "code": "store_unavailable",
            "message": "the database refused the write: disk I/O error",
        }
    },
)
UNAUTHORIZED = Answer(
    "No token, or not a valid one (unauthorized); with WWW-Authenticate: Bearer.",
    anchors=("auth-401",),
    name="Unauthorized",
    example={"error": {"code": "unauthorized", "message": "unknown token"}},
)
FORBIDDEN = Answer(
    "The token's role or queues do not allow this (forbidden).",
    anchors=("auth-403",),
    name="Forbidden",
    example={"error": {"code": "forbidden", "message": "token 'r' has role reader"}},
)
