"""Every server setting, its default, and its environment variable, in one place.

Precedence is flag > `ACCEPTED_<NAME>` environment variable > default. The CLI
builds `accepted serve`'s flags from `SETTINGS_FIELDS`, so a setting added here
is a flag, an environment variable and a line of `--help` at once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# PostgreSQL connections of one server's processes together (`pool_size` 0).
POOL_BUDGET = 20
POOL_FLOOR = 10  # ... and at least this many per process (what each had before)


def _setting(default: Any, help: str, *, env_only: bool = False) -> Any:
    """`env_only`: a secret, read from the environment only (a flag would show in `ps`)."""
    return field(default=default, metadata={"help": help, "env_only": env_only})


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = _setting("127.0.0.1", "address to listen on")
    port: int = _setting(8000, "TCP port to listen on")
    db: str = _setting(
        "./accepted.db", "SQLite file path, or a postgresql:// URL for several nodes"
    )
    default_lease: float = _setting(
        30.0, "seconds a taken job is leased when want_job sends no X-Accepted-Timeout"
    )
    max_attempts: int = _setting(
        5, "hand-outs allowed per job when POST /jobs sends no X-Accepted-Max-Attempts"
    )
    max_wait: float = _setting(
        300.0, "cap, in seconds, on X-Accepted-Block-For and X-Accepted-Wait-Result"
    )
    body_limit: int = _setting(1_048_576, "largest request body accepted, in bytes (413 above)")
    head_timeout: float = _setting(
        10.0, "seconds a connection has to send a whole request head before it is closed"
    )
    idle_timeout: float = _setting(
        60.0, "seconds a keep-alive connection may sit idle between requests before it is closed"
    )
    callback_retries: int = _setting(10, "delivery attempts per callback before it is given up")
    callback_timeout: float = _setting(10.0, "seconds one callback POST may take")
    callback_secret: str = _setting(
        "", "secret(s) signing callbacks (Accepted-Signature); comma-separated, the first signs"
    )
    retries: int = _setting(
        0,
        "retries (0..100) of a job a worker reports failed, when POST /jobs sends no "
        "X-Accepted-Retries",
    )
    retry_backoff_cap: float = _setting(
        3600.0,
        "longest wait, in seconds, before a retry of a failed job (backoff doubles up to it)",
    )
    result_ttl: str = _setting(
        "forever",
        "seconds a final job is kept when POST /jobs sends no X-Accepted-Result-TTL, or 'forever'",
    )
    idempotency_window: float = _setting(
        86400.0, "seconds an Idempotency-Key holds after its first use (24 h)"
    )
    callback_allow: str = _setting(
        "",
        "CIDR ranges callbacks may reach although private, loopback or link-local; comma-separated",
    )
    # -- the callback destination guard (fix-guard)
    callback_guard: str = _setting(
        "auto",
        "auto, on or off: refuse callbacks to loopback, private and link-local addresses "
        "(auto: on when listening beyond loopback or when auth is on)",
    )
    log_level: str = _setting("info", "debug, info, warning or error")
    event_keepalive: float = _setting(
        15.0, "seconds an event stream may be idle before a comment line keeps it open"
    )
    event_buffer: int = _setting(
        1000, "events one event stream may fall behind before it is disconnected"
    )
    log_format: str = _setting("text", "text, or json (one object per line, for log shippers)")
    pool_size: int = _setting(
        0,
        "PostgreSQL connections per node (per process); 0: a budget of "
        f"{POOL_BUDGET} shared by the server's --workers, at least {POOL_FLOOR} each",
    )
    shared_recheck: float = _setting(
        1.0,
        "PostgreSQL, or several --workers: seconds between a node's (a process's) own "
        "re-checks of the shared database; a lost cross-node notice delays a hand-out "
        "or a sweep by at most this",
    )
    auth: str = _setting(
        "",
        "on or off: whether requests need a token (default: off while listening "
        "only on loopback, on otherwise)",
    )
    admin_token: str = _setting(
        "", "a secret stored at start as the admin token named 'admin'", env_only=True
    )
    require_lease: bool = _setting(
        False, "PUT on a running job must send X-Accepted-Lease (428 otherwise)"
    )
    tls_cert: str = _setting("", "PEM certificate file: serve HTTPS (with --tls-key)")
    tls_key: str = _setting("", "PEM private key file of --tls-cert")
    # -- issue 11: serving on every core
    workers: int = _setting(
        0,
        "processes serving the port, each a node of the queue sharing its database; "
        "0: one per core this process may run on; 1: one process, no parent",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `ACCEPTED_*` variables, then explicit overrides (flags)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(env_name(f.name))
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.type, raw, env_name(f.name))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def __post_init__(self) -> None:
        if not 0 <= self.retries <= 100:
            raise ValueError(f"retries must be from 0 to 100, not {self.retries}")
        if not self.retry_backoff_cap > 0:
            raise ValueError(f"retry_backoff_cap must be > 0, not {self.retry_backoff_cap}")
        self.default_result_ttl  # noqa: B018 - refuses a bad value at start, not at enqueue
        if self.auth not in ("", "on", "off"):
            raise ValueError(f"auth must be 'on' or 'off', not {self.auth!r}")
        if self.callback_guard not in ("auto", "on", "off"):
            raise ValueError(
                f"callback_guard must be 'auto', 'on' or 'off', not {self.callback_guard!r}"
            )
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0: one per core), not {self.workers}")
        if self.pool_size < 0:
            raise ValueError(f"pool_size must be >= 0 (0: from --workers), not {self.pool_size}")

    @property
    def node_pool_size(self) -> int:
        """`pool_size`, with 0 resolved: POOL_BUDGET split over the server's
        processes, at least POOL_FLOOR each.

        Each process is a node with a pool of its own, and a statement holds its
        connection through its commit: one process serving tens of workers waits
        for a pool of 10 (20 did 1.2-1.3x its full cycle, docs/performance.md).
        With N processes, N pools share the database: at 4 processes, 5 each did
        a little less than 10, so no process gets fewer than before (10).
        """
        if self.pool_size:
            return self.pool_size
        return max(POOL_FLOOR, POOL_BUDGET // self.worker_count)

    @property
    def worker_count(self) -> int:
        """`workers`, with 0 resolved to the cores this process may run on."""
        if self.workers:
            return self.workers
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1

    @property
    def default_result_ttl(self) -> float | None:
        """`result_ttl` in seconds; None for "forever" (the seed's behaviour)."""
        if self.result_ttl.strip().lower() == "forever":
            return None
        try:
            seconds = float(self.result_ttl)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds < float("inf"):
            raise ValueError(
                f"result_ttl must be seconds >= 0 or 'forever', not {self.result_ttl!r}"
            )
        return seconds


SETTINGS_FIELDS = dataclasses.fields(Settings)


def env_name(name: str) -> str:
    return "ACCEPTED_" + name.upper()


_BOOLEANS = {
    "1": True,
    "true": True,
    "on": True,
    "yes": True,
    "0": False,
    "false": False,
    "off": False,
    "no": False,
}


def _coerce(type_name: Any, raw: str, where: str) -> Any:
    if str(type_name) == "bool":
        if raw.lower() not in _BOOLEANS:
            raise ValueError(f"{where}={raw!r} is not one of {', '.join(_BOOLEANS)}")
        return _BOOLEANS[raw.lower()]
    kind = {"int": int, "float": float}.get(str(type_name), str)
    try:
        return kind(raw)
    except ValueError as exc:
        raise ValueError(f"{where}={raw!r} is not a valid {type_name}") from exc
