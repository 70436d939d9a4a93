"""One log format for the whole server, uvicorn's own lines included.

`text` is for people reading a terminal; `json` is one object per line for log
shippers (Loki, Elasticsearch, CloudWatch), which would otherwise have to parse
free text. Either way every line carries a UTC ISO 8601 time, the level and
the logger's name, and a line's structured fields (a request's method, path,
status and duration) are keys of its object in `json`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import msgspec

FORMATS = ("text", "json")

# Loggers that uvicorn configures for itself unless told not to; we hand their
# lines to the root handler so they share our format.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")

# Drivers that log an expected outage (the database went away) with a whole
# traceback; their lines keep one line: the message and the exception's words.
ONE_LINE_LOGGERS = ("asyncpg.pool",)

FIELDS = "fields"
"""The `extra` key whose dict becomes top-level keys of a `json` line."""

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_DATE = "%Y-%m-%dT%H:%M:%S"


def _utc(seconds: float | None) -> time.struct_time:
    return time.gmtime(seconds)


class _UtcFormatter(logging.Formatter):
    """Times in UTC with milliseconds: 2026-01-31T12:00:00.123Z.

    The seconds part is formatted once per second, not once per line: a
    request log line is on every request's path.
    """

    converter = staticmethod(_utc)
    _second = -1
    _second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime(_DATE, time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int(record.msecs):03d}Z"


class LazyFlushHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each line at once but flushes at most every `FLUSH_EVERY` seconds.

    A flush per line is a system call per request; this way a busy server
    writes its log in blocks. Lines reach the stream within `FLUSH_EVERY`
    (a daemon thread flushes), and at exit (`logging.shutdown` flushes).
    WARNING and above are flushed at once.
    """

    FLUSH_EVERY = 0.2

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self._dirty = False
        self._flusher = threading.Thread(target=self._flush_often, name="log-flush", daemon=True)
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line)
                self._dirty = True
            if record.levelno >= logging.WARNING:
                self.flush()
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self._dirty = False
        super().flush()

    def _flush_often(self) -> None:
        while True:
            time.sleep(self.FLUSH_EVERY)
            if self._dirty:
                try:
                    self.flush()
                except (OSError, ValueError):  # stream closed at exit
                    return


class TextFormatter(_UtcFormatter):
    def __init__(self) -> None:
        super().__init__(_TEXT)


class JsonFormatter(_UtcFormatter):
    """A line of JSON per record; `extra={"fields": {...}}` adds keys."""

    _encode = msgspec.json.Encoder().encode

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._encode(entry).decode()


def check_format(name: str) -> str:
    """The format's name, or ValueError naming the choices."""
    if name not in FORMATS:
        raise ValueError(f"log format {name!r} is not one of {', '.join(FORMATS)}")
    return name


def configure(
    level: str, log_format: str, stream: IO[str] | None = None, *, lazy: bool = True
) -> None:
    """Send every logger's lines, uvicorn's too, through one handler in `log_format`.

    `lazy=False`: a plain handler flushing every line, and no flushing thread,
    for a process that forks (a several-process server's parent).
    """
    out = stream or sys.stderr
    handler = LazyFlushHandler(out) if lazy else logging.StreamHandler(out)
    formatter = JsonFormatter() if check_format(log_format) == "json" else TextFormatter()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in ONE_LINE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLine) for f in logger.filters):
            logger.addFilter(OneLine())


class OneLine(logging.Filter):
    """Folds a record's exception into its message: `...; retrying: [Errno 111] ...`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {record.exc_info[1]}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def safe_target(db: str) -> str:
    """The `--db` target fit for a log line: a PostgreSQL URL loses its password."""
    if not db.startswith(("postgresql://", "postgres://")):
        return db
    parts = urlsplit(db)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
