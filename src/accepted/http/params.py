"""Headers and query parameters, each declared once: name, type, range, meaning.

A `Param` is both what `parse.read` checks a request against and what
`/openapi.json` states, so a maximum (or a default, or an enum) is written in
one place. Declare a new header here, give it to the route's `Op(params=...)`
(http/routes/), and read it in the handler with `parse.read(request, THE_PARAM)`.

Seconds carry `maximum=MAX_SECONDS` unless the value has a tighter limit of
its own; waits beyond a server cap are capped, not refused, and the
description says which setting caps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import msgspec

# Far beyond any real delay, TTL, timeout or lease (100 years), and small enough that
# every time derived from it stays a representable timestamp (no 500 on render).
MAX_SECONDS = 100 * 365 * 24 * 3600.0
# Counts with no natural ceiling (max attempts) still fit a 32-bit column.
MAX_INT = 2**31 - 1
MAX_QUEUE_NAME = 255
# Most retries a job may ask for (SPEC: 0..100).
MAX_RETRIES = 100
# Longest URL a header or field may carry (SPEC: "a URL-valued header over 2 KiB: 400").
MAX_URL = 2048
# Keys a client chooses (Idempotency-Key, and the like): 1..255 characters.
MAX_KEY = 255

T = TypeVar("T", int, float, str)
Where = Literal["header", "query", "path"]


@dataclass(frozen=True, slots=True)
class Param(Generic[T]):
    """One header or query parameter as the API accepts it.

    `kind` is int, float or str. Numbers are checked against `minimum`
    (exclusive when `positive`) and `maximum`; strings against `enum` and
    `max_length`. `alias` names a query parameter that may stand in for a
    header (the header wins). `repeated` query parameters may be sent more
    than once (`?queue=a&queue=b`). A `capped_by` value has no maximum: what is
    over the named setting is cut to it, not refused.
    """

    name: str
    kind: type[T]
    description: str
    where: Where = "header"
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    default: T | None = None
    enum: tuple[str, ...] | None = None
    max_length: int | None = None
    min_length: int | None = None
    format: str | None = None
    alias: str | None = None
    repeated: bool = False
    required: bool = False
    capped_by: str | None = None
    key: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Headers are looked up by their lower-cased name, as ASGI servers give them.
        object.__setattr__(self, "key", self.name.lower().encode("latin-1"))

    def constraints(self) -> dict[str, Any]:
        """The JSON Schema keywords of the declared range, default and enum."""
        found: dict[str, Any] = {}
        if self.minimum is not None:
            found["exclusiveMinimum" if self.positive else "minimum"] = _number(self.minimum)
        if self.maximum is not None:
            found["maximum"] = _number(self.maximum)
        if self.min_length is not None:
            found["minLength"] = self.min_length
        if self.max_length is not None:
            found["maxLength"] = self.max_length
        if self.enum is not None:
            found["enum"] = list(self.enum)
        if self.format is not None:
            found["format"] = self.format
        if self.default is not None:
            found["default"] = self.default
        if self.capped_by is not None:
            found["x-capped-by"] = self.capped_by
        return found

    @property
    def meta(self) -> msgspec.Meta:
        """For a body field that takes this value (a batch item's `priority`): the
        same range and meaning in its schema. Stated only: parse.check enforces it."""
        return msgspec.Meta(
            description=f"as {self.name}: {self.description}",
            # No default here: an absent field takes the header's value, then the server's.
            extra_json_schema={k: v for k, v in self.constraints().items() if k != "default"},
        )

    def query_alias(self) -> Param[T]:
        """The query parameter standing in for this header, declared alike."""
        assert self.alias is not None
        return Param(
            self.alias,
            self.kind,
            f"alias of {self.name} (the header wins)",
            where="query",
            minimum=self.minimum,
            maximum=self.maximum,
            positive=self.positive,
            default=self.default,
            enum=self.enum,
            max_length=self.max_length,
            min_length=self.min_length,
            format=self.format,
            capped_by=self.capped_by,
        )


def _number(value: float) -> float | int:
    return int(value) if value == int(value) else value


def seconds(
    name: str, description: str, *, positive: bool = False, alias: str | None = None
) -> Param[float]:
    """A seconds header: a finite decimal number >= 0 (> 0 when `positive`), at most MAX_SECONDS."""
    return Param(
        name,
        float,
        description,
        minimum=0,
        maximum=MAX_SECONDS,
        positive=positive,
        alias=alias,
    )


# -- enqueue (POST /jobs) ------------------------------------------------------

PRIORITY = Param("X-Accepted-Priority", int, "0 is taken first", minimum=0, maximum=3, default=1)
DELAY = seconds(
    "X-Accepted-Delay",
    "seconds (fractional allowed); the job is delayed and no worker gets it before then",
)
RESULT_TTL = seconds(
    "X-Accepted-Result-TTL",
    "once final, the job is kept this many seconds, then removed (GET answers 404); "
    "default: kept forever. Removal waits for a pending callback.",
)
CALLBACK_URL = Param(
    "X-Accepted-Callback-URL",
    str,
    "absolute http:// or https:// URL; when the job becomes done or failed the server "
    "POSTs the job JSON there, retrying with backoff (docs/http-api.md, Callbacks)",
    format="uri",
    max_length=MAX_URL,
)
JOB_TIMEOUT = seconds(
    "X-Accepted-Job-Timeout",
    "seconds from due_at; a job not final by then becomes failed, is never handed out "
    "again, and a late PUT gets 409",
    positive=True,
)
MAX_ATTEMPTS = Param(
    "X-Accepted-Max-Attempts",
    int,
    "how many times the job may be handed out; when a lease expires or the job is given "
    "back on the last one, it becomes failed; default the max_attempts setting (5)",
    minimum=1,
    maximum=MAX_INT,
)

RETRIES = Param(
    "X-Accepted-Retries",
    int,
    "how many times the job is tried again when a worker reports it failed; default the "
    "retries setting (0) (docs/http-api.md, Retries)",
    minimum=0,
    maximum=MAX_RETRIES,
)
RETRY_BACKOFF = seconds(
    "X-Accepted-Retry-Backoff",
    "seconds before the first retry; each next one doubles (with jitter), capped by the "
    "retry_backoff_cap setting; default 1",
    positive=True,
)

IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    str,
    "1 to 255 printable characters: the same key with the same request answers as the "
    "first did and enqueues nothing; with a different request, 422; while the first is "
    "still handled, 409. Single enqueues only (a batch item has idempotency_key).",
    min_length=1,
    max_length=MAX_KEY,
)

ENQUEUE_WAIT = Param(
    "X-Accepted-Wait-Result",
    float,
    "enqueue and wait: hold the answer until the job is final (200 with it) or this many "
    "seconds pass (202 with the job as it is then); any number >= 0, cut to the max_wait "
    "setting (300 s by default); a single job only, not a batch",
    minimum=0,
    capped_by="max_wait",
)

# -- unique jobs and dependencies (flow-deps) ----------------------------------

MAX_AFTER = 100  # dependencies one job may list
UNIQUE_KEY = Param(
    "X-Accepted-Unique-Key",
    str,
    "1 to 255 printable characters: while a job of the same queue with this key is not "
    "final, the enqueue answers 200 with that job and X-Accepted-Duplicate, and enqueues "
    "nothing (docs/flow.md, Unique jobs). A batch item has unique_key instead.",
    min_length=1,
    max_length=MAX_KEY,
)
AFTER = Param(
    "X-Accepted-After",
    str,
    f"up to {MAX_AFTER} job ids, comma-separated: the job stays delayed until every one is "
    "done, and is cancelled if one fails, is cancelled or is deleted; an unknown id is a 400 "
    '(docs/flow.md, Dependencies). A batch item has after instead, where "$N" names item N.',
)
# -- fairness groups (flow-limits) ---------------------------------------------

GROUP = Param(
    "X-Accepted-Group",
    str,
    "1 to 255 characters: the job's fairness group. Among a queue's due jobs of one "
    "priority, hand-outs rotate between groups, so one group's backlog does not hold back "
    "another's (docs/flow.md, Fairness groups); group_concurrency limits count per group. "
    "A batch item has group, which this header gives a default.",
    min_length=1,
    max_length=MAX_KEY,
)
# Every header POST /jobs reads, as the route table declares them. None has a
# query alias: a request that carries none of them takes every default
# (handlers.enqueue then skips reading them one by one).
ENQUEUE = (
    PRIORITY,
    DELAY,
    RESULT_TTL,
    CALLBACK_URL,
    JOB_TIMEOUT,
    MAX_ATTEMPTS,
    RETRIES,
    RETRY_BACKOFF,
    IDEMPOTENCY_KEY,
    ENQUEUE_WAIT,
    UNIQUE_KEY,  # flow-deps
    AFTER,
    GROUP,  # flow-limits
)
DUPLICATE = Param(
    "X-Accepted-Duplicate",
    str,
    "true when the answer is the job already holding the unique key (nothing enqueued)",
    enum=("true",),
)
DUPLICATES = Param(
    "X-Accepted-Duplicates",
    str,
    "batch answers: the indexes (comma-separated) of the items answered by a job already "
    "holding their unique key",
)

# -- reading (GET /jobs/{id}) --------------------------------------------------

WAIT_RESULT = Param(
    "X-Accepted-Wait-Result",
    float,
    "hold the request until the job is final (or deleted) or this many seconds pass; "
    "any number >= 0, cut to the max_wait setting (300 s by default)",
    minimum=0,
    capped_by="max_wait",
)

# -- taking (POST /want_job) ---------------------------------------------------

BLOCK_FOR = Param(
    "X-Accepted-Block-For",
    float,
    "long-poll: wait up to this many seconds for a job; any number >= 0, cut to the "
    "max_wait setting (300 s by default)",
    minimum=0,
    capped_by="max_wait",
    alias="block",
)
LEASE_TIMEOUT = seconds(
    "X-Accepted-Timeout",
    "the lease in seconds: if the job is not final this long after it was handed out, "
    "it goes back to queued; default the default_lease setting (30 s)",
    positive=True,
    alias="timeout",
)
COUNT = Param(
    "X-Accepted-Count",
    int,
    "take up to this many jobs; the answer is then a JSON array (possibly empty)",
    minimum=1,
    maximum=1000,
    alias="count",
)
QUEUE = Param(
    "queue",
    str,
    "a queue to take from; repeat for several (?queue=a&queue=b); none named means any queue",
    where="query",
    max_length=MAX_QUEUE_NAME,
    repeated=True,
)

EVENTS_QUEUE = Param(
    "queue",
    str,
    "only events of this queue; repeat for several (?queue=a&queue=b); none named means all",
    where="query",
    max_length=MAX_QUEUE_NAME,
    repeated=True,
)

# -- reporting (PUT /jobs/{id}) ------------------------------------------------

LEASE = Param(
    "X-Accepted-Lease",
    str,
    "the lease token from want_job: the report is accepted only while it is the job's "
    "current lease (else 409 lease_mismatch)",
)
HEARTBEAT_TIMEOUT = seconds(
    "X-Accepted-Timeout",
    "with status running: the new lease length in seconds (default: as long as the "
    "lease it renews)",
    positive=True,
)

# -- answers -------------------------------------------------------------------

LOCATION = Param("Location", str, "/jobs/{id} of the new job (single enqueue only)")
IDEMPOTENT_REPLAYED = Param(
    "Idempotent-Replayed", str, "true when this answer replays an earlier request's", enum=("true",)
)
LOCATION_UI = Param("Location", str, "/ui")
ALLOW = Param("Allow", str, "the methods the path answers")

# -- body fields ---------------------------------------------------------------

QUEUE_FIELD = msgspec.Meta(
    description="a queue name: 1 to 255 characters",
    extra_json_schema={"minLength": 1, "maxLength": MAX_QUEUE_NAME},
)
ANY_JSON = msgspec.Meta(description="any JSON value")

# -- path parameters -----------------------------------------------------------

JOB_ID = Param(
    "id",
    str,
    "the job id; a value that is not a UUID names no job (404 job_not_found)",
    where="path",
    format="uuid",
    required=True,
)
QUEUE_NAME = Param(
    "name",
    str,
    "the queue name, percent-encoded (a/b is a%2Fb)",
    where="path",
    max_length=MAX_QUEUE_NAME,
    required=True,
)
TOKEN_NAME = Param("name", str, "the token's name, percent-encoded", where="path", required=True)
UI_FILE = Param(
    "file", str, "a file of the dashboard, by its exact name", where="path", required=True
)

# -- listing (GET /jobs) -------------------------------------------------------

MAX_LIST_QUEUES = 100  # distinct queues one listing or bulk filter may name
MAX_SEARCH = 1000  # characters of a search text

LIST_QUEUE = Param(
    "queue",
    str,
    f"only jobs of this queue; repeat for several (at most {MAX_LIST_QUEUES})",
    where="query",
    max_length=MAX_QUEUE_NAME,
    repeated=True,
)
LIST_STATUS = Param(
    "status",
    str,
    "only jobs of this status (delayed, queued, running, done, failed, cancelled); "
    "repeat, or separate by commas, for several",
    where="query",
    repeated=True,
)
SEARCH = Param(
    "q",
    str,
    "a job id, or text found (case-insensitive) in the job's params or result",
    where="query",
    max_length=MAX_SEARCH,
)
LIMIT = Param("limit", int, "jobs per page", where="query", minimum=1, maximum=500, default=50)
CURSOR = Param(
    "cursor", str, "the `next` of the previous page, to read the page after it", where="query"
)

# -- schedules -------------------------------------------------------------------

SCHEDULE_NAME = Param(
    "name",
    str,
    "the schedule's name (1 to 255 characters), percent-encoded",
    where="path",
    max_length=MAX_QUEUE_NAME,
    required=True,
)
