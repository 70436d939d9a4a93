"""Routes of the dashboard: static files of a page that uses the API routes."""

from __future__ import annotations

from accepted.http import dashboard
from accepted.http import params as p
from accepted.http.route import Answer, Op, Route
from accepted.http.routes.rules import PUBLIC

# The dashboard: static files of a page that uses the routes above. Public: the
# page asks for a token and sends it with its API calls.
DASHBOARD = (
    Route(
        "/",
        {
            "GET": Op(
                dashboard.root,
                "Redirect to the dashboard",
                responses={
                    302: Answer(
                        "To the dashboard.", headers=(p.LOCATION_UI,), anchors=("root-302",)
                    )
                },
                tag="dashboard",
                anchor="dashboard",
                access=PUBLIC,
            )
        },
    ),
    Route(
        "/ui",
        {
            "GET": Op(
                dashboard.page,
                "The web dashboard",
                responses={
                    200: Answer(
                        "The dashboard's page.", str, media_type="text/html", anchors=("ui-200",)
                    )
                },
                tag="dashboard",
                anchor="dashboard",
                access=PUBLIC,
            )
        },
    ),
    Route(
        "/ui/{file}",
        {
            "GET": Op(
                dashboard.asset,
                "The dashboard's scripts and styles",
                responses={
                    200: Answer(
                        "One of the page's scripts, styles or images, with its content type.",
                        str,
                        media_type="*/*",
                        anchors=("ui-file-200",),
                    ),
                    404: Answer(
                        "The dashboard has no file of that name (not_found).",
                        anchors=("ui-file-404",),
                    ),
                },
                tag="dashboard",
                anchor="dashboard",
                access=PUBLIC,
            )
        },
        params=(p.UI_FILE,),
    ),
)
