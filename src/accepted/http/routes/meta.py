"""Routes about the server itself: health, metrics, the API documents."""

from __future__ import annotations

from typing import Any

from accepted.http import handlers, meta, metrics
from accepted.http.answers import (
    UNAVAILABLE,
)
from accepted.http.render import (
    Health,
)
from accepted.http.route import Answer, Op, Route
from accepted.http.routes.rules import PUBLIC
from accepted.service.auth import Access, Rule

METRICS = Route(
    "/metrics",
    {
        "GET": Op(
            metrics.metrics,
            "Metrics in the Prometheus text format",
            description="Counters and histograms of this node; gauges of jobs read from the "
            "store, the same on every node.",
            responses={
                200: Answer(
                    "The Prometheus text exposition (version 0.0.4).",
                    str,
                    media_type="text/plain",
                    anchors=("metrics-200", "metrics-set"),
                ),
                503: UNAVAILABLE,
            },
            tag="meta",
            anchor="metrics",
            # Metrics name every queue: not for a token limited to some.
            access=Rule(Access.READ, unlimited=True),
        )
    },
)

META = (
    Route(
        "/healthz",
        {
            "GET": Op(
                handlers.healthz,
                "Readiness",
                responses={
                    200: Answer("The server can take requests.", Health, anchors=("healthz-200",)),
                    503: Answer(
                        "Starting or stopping (shutting_down), or the database cannot take "
                        "writes now: a full disk, a read-only database (store_unavailable).",
                        anchors=("healthz-503", "healthz-503-writes"),
                    ),
                },
                tag="meta",
                anchor="meta",
                access=PUBLIC,
            )
        },
    ),
    Route(
        "/openapi.json",
        {
            "GET": Op(
                meta.openapi_json,
                "This API as OpenAPI 3.1",
                responses={200: Answer("This document.", dict[str, Any], anchors=("openapi-200",))},
                tag="meta",
                anchor="meta",
                access=PUBLIC,
            )
        },
    ),
    Route(
        "/docs",
        {
            "GET": Op(
                meta.docs,
                "Human-readable API docs",
                responses={
                    200: Answer(
                        "A self-contained HTML page.",
                        str,
                        media_type="text/html",
                        anchors=("docs-200",),
                    )
                },
                tag="meta",
                anchor="meta",
                access=PUBLIC,
            )
        },
    ),
)
