"""The server's log: one line per request, one format for every line, and a
start-up line naming the address and the database (never its password)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.http.conftest import StartServer
from tests.http.helpers import NO_TLS, enqueue, unique_queue
from tests.support.servers import ServerProcess


def _with_password(db_target: str) -> str:
    """A PostgreSQL URL with a password (trust auth ignores it); SQLite paths as they are."""
    if not db_target.startswith("postgresql://"):
        return db_target
    parts = urlsplit(db_target)
    netloc = f"{parts.username}:s3cret-pw@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _json_lines(path: Path) -> list[dict[str, object]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is JSON, or this raises


@pytest.mark.documents("log-request-line", "log-format-json", "log-startup-line")
def test_json_log_has_a_line_per_request_and_a_startup_line(
    db_target: str, tmp_path: Path
) -> None:
    env = {"ACCEPTED_LOG_LEVEL": "info", "ACCEPTED_LOG_FORMAT": "json"}
    server = ServerProcess(db=_with_password(db_target), log_path=tmp_path / "log", env=env)
    try:
        server.start()
        with httpx.Client(base_url=server.url, verify=NO_TLS) as http:
            job = enqueue(http, unique_queue())
            assert http.get(f"/jobs/{job['id']}").status_code == 200
            assert http.get("/no/such/route").status_code == 404
    finally:
        assert server.stop() == 0
    entries = _json_lines(server.log_path)

    requests = [e for e in entries if e["logger"] == "accepted.request"]
    seen = {(e["method"], e["path"], e["status"]) for e in requests}
    assert ("POST", "/jobs", 202) in seen
    assert ("GET", f"/jobs/{job['id']}", 200) in seen
    assert ("GET", "/no/such/route", 404) in seen
    for entry in requests:
        assert isinstance(entry["duration_ms"], float | int) and entry["duration_ms"] >= 0
        assert str(entry["time"]).endswith("Z") and entry["level"] == "INFO"

    assert any(str(e["logger"]).startswith("uvicorn") for e in entries)  # uvicorn's too
    startup = [e for e in entries if "serving http://" in str(e["message"])]
    assert len(startup) == 1
    message = str(startup[0]["message"])
    assert f"http://127.0.0.1:{server.port}" in message
    assert "s3cret-pw" not in server.log_path.read_text()
    if db_target.startswith("postgresql://"):
        assert urlsplit(db_target).path in message and "postgres@" in message
    else:
        assert db_target in message


@pytest.mark.documents("log-format-text")
def test_text_log_is_the_default_format(start_server: StartServer) -> None:
    server = start_server(ACCEPTED_LOG_LEVEL="info")
    path = "/" + unique_queue("nothing")
    with httpx.Client(base_url=server.url, verify=NO_TLS) as http:
        assert http.get(path).status_code == 404
    assert server.stop() == 0
    lines = server.log_path.read_text().splitlines()
    request = [line for line in lines if f" accepted.request: GET {path} 404 " in line]
    assert len(request) == 1 and request[0].endswith("ms")
    # One shape for every line, uvicorn's included: "<time>Z <LEVEL> <logger>: <message>".
    assert lines and all(line.split(" ", 1)[0].endswith("Z") for line in lines)
    assert any(" uvicorn.error: " in line for line in lines)


@pytest.mark.documents("log-format-bad")
def test_an_unknown_log_format_is_refused_at_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "accepted", "serve", "--db", str(tmp_path / "x.db"),
         "--workers", "1", "--log-format", "xml"],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    assert "log format 'xml' is not one of text, json" in done.stderr
