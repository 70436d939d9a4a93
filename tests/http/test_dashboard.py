"""The dashboard's files as the server serves them: the page, its scripts and
styles, the redirect from `/`, and nothing outside the dashboard's folder.

What the page does in a browser is tests/browser's part.
"""

from __future__ import annotations

import re

import httpx
import pytest

from accepted.http.dashboard import ui_files


@pytest.mark.documents("ui-200")
def test_ui_serves_the_page_locked_to_its_own_files(api: httpx.Client) -> None:
    for path in ("/ui", "/ui/"):
        response = api.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert '<script type="module" src="/ui/app.js">' in response.text
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.documents("ui-file-200")
def test_ui_files_are_served_with_their_content_types(api: httpx.Client) -> None:
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    served = 0
    for name in ui_files():
        suffix = name[name.rfind("."):]
        if suffix not in types:
            continue
        response = api.get(f"/ui/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(types[suffix]), name
        assert response.content == ui_files()[name]
        served += 1
    assert served >= 5


def test_ui_files_fetch_nothing_from_elsewhere() -> None:
    """No CDN: the machine serving it, and the browser reading it, may have no network."""
    for name, body in ui_files().items():
        text = body.decode()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), name
        assert not re.search(r"""\bimport\b[^;]*["']https?:""", text), name
        assert "@import" not in text, name
        assert not re.search(r"""fetch\(\s*["']https?:""", text), name


@pytest.mark.documents("ui-file-404")
@pytest.mark.parametrize(
    "path", ["/ui/nope.js", "/ui/..%2Fmeta.py", "/ui/%2E%2E%2Fstatic%2Fopenapi.json", "/ui/"
     + "x" * 300],
)
def test_ui_serves_only_its_own_files_by_exact_name(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.documents("root-302")
def test_root_redirects_to_the_dashboard(api: httpx.Client) -> None:
    response = api.get("/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/ui"
    assert api.get("/", follow_redirects=True).url.path == "/ui"
