"""The log formats and the database target as a log line shows it."""

from __future__ import annotations

import io
import json
import logging

import pytest

from accepted import logs


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("./accepted.db", "./accepted.db"),
        ("postgresql://u:pw@db.example:5432/q", "postgresql://u@db.example:5432/q"),
        ("postgres://u:pw@[::1]/q?sslmode=off&password=pw", "postgres://u@[::1]/q?sslmode=off"),
        ("postgresql:///q", "postgresql:///q"),
    ],
)
def test_a_database_target_is_shown_without_its_password(target: str, shown: str) -> None:
    assert logs.safe_target(target) == shown


def test_json_lines_carry_the_fields_of_a_record_as_keys() -> None:
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    try:
        logging.getLogger("x.y").info("hi %s", "there", extra={logs.FIELDS: {"status": 202}})
        logging.getLogger("x.y").warning("flushed at once")
        first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    finally:
        logs.configure("warning", "text")
    assert first["message"] == "hi there" and first["status"] == 202
    assert first["logger"] == "x.y" and first["level"] == "INFO"
    assert first["time"].endswith("Z") and len(first["time"]) == len("2026-01-01T00:00:00.000Z")
    assert second["level"] == "WARNING"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of text, json"):
        logs.check_format("xml")


def test_the_pools_outage_warning_is_one_line_without_a_traceback() -> None:
    stream = io.StringIO()
    logs.configure("info", "text", stream)
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError:
            logging.getLogger("asyncpg.pool").warning("floor; %s", "retrying", exc_info=True)
    finally:
        logs.configure("warning", "text")
    [line] = stream.getvalue().splitlines()
    assert line.endswith("asyncpg.pool: floor; retrying: [Errno 111] Connection refused")
