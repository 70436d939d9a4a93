"""`Client`: the blocking twin. Every method is one call of `core`, sent with retries."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from accepted.client import core, tokens
from accepted.client import queues as queue_calls
from accepted.client import schedules as schedule_calls
from accepted.client.errors import WaitTimeout
from accepted.client.models import (
    OMITTED,
    Attempt,
    BulkOutcome,
    Job,
    JobPage,
    NewJob,
    Queue,
    Rate,
)
from accepted.client.schedules import Schedule
from accepted.errors import AcceptedError
from accepted.types import JobStatus

T = TypeVar("T")

__all__ = ["Client"]


class Client:
    """A blocking client of one accepted server; a context manager that closes its pool.

    `timeout` bounds connecting, sending and each wait for an answer; a
    long-poll's own wait is added to it. Calls that are safe to send again are
    retried `retries` times on a connection failure or a 503, with exponential
    backoff from `backoff` seconds. A take is never retried.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.1,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.policy = core.RetryPolicy(retries=retries, backoff=backoff)
        self._http = httpx.Client(
            base_url=self.url,
            # `token`, else ACCEPTED_TOKEN, goes as Authorization: Bearer.
            headers=tokens.request_headers(token, headers),
            timeout=timeout,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- producers -----------------------------------------------------------

    def enqueue(
        self,
        queue: str,
        params: Any = OMITTED,
        *,
        priority: int | None = None,
        delay: float | None = None,
        result_ttl: float | None = None,
        callback_url: str | None = None,
        job_timeout: float | None = None,
        max_attempts: int | None = None,
        retries: int | None = None,
        retry_backoff: float | None = None,
        idempotency_key: str | None = None,
        wait: float | None = None,
        unique_key: str | None = None,
        after: Iterable[str | Job] | None = None,
        group: str | None = None,
    ) -> Job:
        """Add a job to `queue`; any argument left out takes the server's default.

        `retries`: how many times the job is tried again when it fails, the first
        after `retry_backoff` seconds, each next one after twice as long.
        `idempotency_key`: sending the same key again (within the server's
        window) returns the job the first call made instead of a second one,
        so this call is also retried after a failure that may have reached the
        server.

        With `wait`, the answer is held until the job is final or `wait` seconds
        pass (capped by the server's max_wait), and the job comes back as it is
        then: one request for a short job's result instead of two.

        `unique_key`: while a job of `queue` with this key is not final, nothing
        is enqueued and that job comes back with `duplicate` True.
        `after`: jobs (or their ids) this one waits for: it stays delayed until
        all are done, and is cancelled if one fails, is cancelled or deleted.
        `group`: the job's fairness group: among a queue's jobs of one priority,
        hand-outs rotate between groups, so one group's backlog does not hold
        back another's.
        """
        call = core.enqueue(
            queue,
            params,
            priority=priority,
            delay=delay,
            result_ttl=result_ttl,
            callback_url=callback_url,
            job_timeout=job_timeout,
            max_attempts=max_attempts,
            retries=retries,
            retry_backoff=retry_backoff,
            idempotency_key=idempotency_key,
            wait=wait,
            unique_key=unique_key,
            after=after,
            group=group,
        )
        return self.send(call)

    def enqueue_many(self, jobs: Iterable[NewJob | Mapping[str, Any]]) -> list[Job]:
        """Add several jobs in one request: all of them, or (on any error) none."""
        return self.send(core.enqueue_many(jobs))

    def get(self, job_id: str, wait: float | None = None) -> Job:
        """The job; with `wait`, held until it is final or `wait` seconds pass."""
        return self.send(core.get(job_id, wait))

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """The job once final; raises `WaitTimeout` if `timeout` seconds pass first.

        A job deleted meanwhile comes back `cancelled` (or, deleted between two
        of the wait's requests, raises `JobNotFound`)."""
        plan = core.WaitPlan(timeout, time.monotonic())
        while True:
            asked, sent = plan.next_wait(time.monotonic()), time.monotonic()
            job = self.get(job_id, wait=asked)
            if job.is_final:
                return job
            if plan.expired(time.monotonic()):
                raise WaitTimeout(f"job {job_id} is still {job.status} after {timeout} s", job)
            time.sleep(plan.pause(asked, time.monotonic() - sent))

    # -- tokens (whoami: any token; the rest: an unlimited admin token) ---------

    def whoami(self) -> dict[str, Any]:
        """The token this client sends, as the server sees it: `{"auth": true, "name":
        ..., "role": ..., "queues": [...] | None, "expires_at": ... | None}`; with auth
        off `{"auth": false, "name": None, "role": "admin", ...}`. Never the secret.
        An unknown, revoked or expired token raises `Unauthorized`."""
        return self.send(tokens.whoami())

    def create_token(
        self,
        name: str,
        role: str,
        *,
        queues: Sequence[str] | None = None,
        expires_in: float | None = None,
    ) -> dict[str, Any]:
        """Make a token; the answer's `token` is its secret, shown only this once."""
        return self.send(tokens.create_token(name, role, queues, expires_in))

    def list_tokens(self) -> dict[str, Any]:
        """`{"tokens": [...]}`, without secrets."""
        return self.send(tokens.list_tokens())

    def revoke_token(self, name: str) -> dict[str, Any]:
        """Revoke a token; every server refuses it within a second."""
        return self.send(tokens.revoke_token(name))

    def delete(self, job_id: str) -> Job:
        """Remove the job (cancelling it if not final); returns it as it was."""
        return self.send(core.delete(job_id))

    def cancel(self, job_id: str) -> Job:
        """Cancel a job that is not final, keeping it (unlike delete); returns it."""
        return self.send(core.cancel(job_id))

    def retry(self, job_id: str) -> Job:
        """Queue a failed or cancelled job again at once, as new; returns it."""
        return self.send(core.retry(job_id))

    def attempts(self, job_id: str) -> list[Attempt]:
        """The job's hand-outs, oldest first, the running one (if any) last."""
        return self.send(core.attempts(job_id))

    # -- workers -------------------------------------------------------------

    def take(
        self,
        queues: str | Sequence[str] | None = None,
        *,
        block: float = 0.0,
        lease: float | None = None,
        reports: Sequence[core.Reported] = (),
    ) -> Job | None:
        """Take the next job of `queues` (any queue if None), waiting up to `block` seconds.

        The job comes with its `lease` token; report on it within `lease`
        seconds (or heartbeat) or it goes back to the queue. `reports` as in
        `take_many`.
        """
        call = core.take(queues, block=block, lease=lease, reports=reports)
        taken: Job | None = self.send(call)
        return taken

    def take_many(
        self,
        queues: str | Sequence[str] | None = None,
        *,
        count: int,
        block: float = 0.0,
        lease: float | None = None,
        reports: Sequence[core.Reported] = (),
    ) -> list[Job]:
        """Up to `count` jobs at once; waits up to `block` seconds for the first.

        `reports` (job, status, result[, retry]) on finished jobs ride along, applied first
        (report and take in one request: two requests per job instead of three);
        a refused one raises its error, and then nothing was taken.
        """
        call = core.take(queues, block=block, lease=lease, count=count, reports=reports)
        taken: list[Job] = self.send(call)
        return taken

    def complete(self, job: Job, result: Any = None) -> Job:
        """Report the job done with `result` (any JSON value)."""
        return self.send(core.report(job, JobStatus.DONE, result))

    def fail(self, job: Job, result: Any = None, *, retry: bool = True) -> Job:
        """Report the job failed; `result` says why.

        The server tries it again if it has retries left, unless `retry` is False:
        a failure for good (bad input, say), which no retry would fix.
        """
        return self.send(core.report(job, JobStatus.FAILED, result, retry=retry))

    def heartbeat(self, job: Job, *, lease: float | None = None) -> Job:
        """Start the job's lease afresh: `lease` seconds, or as long as it was."""
        return self.send(core.report(job, JobStatus.RUNNING, lease=lease))

    def report_many(self, reports: Iterable[core.Reported]) -> list[Job | AcceptedError]:
        """Several reports in one request, e.g. `[(job, JobStatus.DONE, result), ...]`.

        Each succeeds or fails on its own: the list holds, in order, each job as
        it now is or the error its report met (returned, not raised).
        """
        return self.send(core.report_many(reports))

    def give_back(self, job: Job) -> Job:
        """Put the job back in its queue at once, unfinished."""
        return self.send(core.report(job, JobStatus.QUEUED))

    # -- queues, listing and bulk actions ------------------------------------

    def queues(self) -> list[Queue]:
        """Every queue that exists, sorted by name, with its counts."""
        return self.send(queue_calls.queues())

    def queue(self, name: str) -> Queue:
        """One queue; raises `QueueNotFound` when it holds no job and has no setting."""
        return self.send(queue_calls.queue(name))

    def pause(self, name: str) -> Queue:
        """Stop `name` handing out jobs, on every node, until `resume`."""
        return self.send(queue_calls.pause(name))

    def resume(self, name: str) -> Queue:
        """Let a paused queue hand out jobs again; its blocked workers are woken."""
        return self.send(queue_calls.resume(name))

    def set_limits(
        self,
        name: str,
        *,
        rate: tuple[int, float] | Rate | None = None,
        concurrency: int | None = None,
        group_concurrency: int | None = None,
    ) -> Queue:
        """Set all of a queue's limits at once (a limit left out is none; no
        arguments clear them), on every node.

        `rate`: at most `jobs` hand-outs in any window of `per` seconds, as
        `Rate(jobs, per)` or `(jobs, per)`; `concurrency`: at most this many of
        its jobs running at once; `group_concurrency`: at most this many of
        one fairness group running at once.
        """
        call = queue_calls.set_limits(
            name, rate=rate, concurrency=concurrency, group_concurrency=group_concurrency
        )
        return self.send(call)

    def list_jobs(
        self,
        *,
        queue: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        search: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobPage:
        """One page of jobs, newest first; `search` is a job id or text in params or result."""
        call = queue_calls.list_jobs(
            queue=queue, status=status, search=search, limit=limit, cursor=cursor
        )
        return self.send(call)

    def bulk(
        self,
        action: str,
        *,
        queue: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        search: str | None = None,
        ids: Sequence[str] | None = None,
        all: bool = False,
    ) -> BulkOutcome:
        """`action` ("retry", "cancel" or "delete") on every job the filter selects.

        At least one condition, or `all=True` for every job. May take minutes
        on millions of jobs (the read timeout allows an hour).
        """
        call = queue_calls.bulk(action, queue=queue, status=status, search=search, ids=ids, all=all)
        return self.send(call)

    # -- schedules -----------------------------------------------------------

    def put_schedule(
        self,
        name: str,
        queue: str,
        params: Any = None,
        *,
        cron: str | None = None,
        every: float | None = None,
        timezone: str | None = None,
        paused: bool = False,
        priority: int | None = None,
        job_timeout: float | None = None,
        result_ttl: float | None = None,
        max_attempts: int | None = None,
        retries: int | None = None,
        callback_url: str | None = None,
    ) -> Schedule:
        """Create or replace the schedule `name`: exactly one of `cron` (five fields,
        read in `timezone`, default UTC) and `every` (seconds); the job options
        left None take the server's defaults. Raises InvalidField when refused."""
        call = schedule_calls.put_schedule(
            name,
            queue,
            params,
            cron=cron,
            every=every,
            timezone=timezone,
            paused=paused,
            priority=priority,
            job_timeout=job_timeout,
            result_ttl=result_ttl,
            max_attempts=max_attempts,
            retries=retries,
            callback_url=callback_url,
        )
        return self.send(call)

    def schedule(self, name: str) -> Schedule:
        """One schedule; raises `ScheduleNotFound`."""
        return self.send(schedule_calls.schedule(name))

    def schedules(self) -> list[Schedule]:
        """Every schedule, sorted by name, with its next and last runs."""
        return self.send(schedule_calls.schedules())

    def delete_schedule(self, name: str) -> Schedule:
        """Stop and remove a schedule (its jobs stay); the answer is it as it was."""
        return self.send(schedule_calls.delete_schedule(name))

    def run_schedule(self, name: str) -> Job:
        """Enqueue one job of the schedule now; its fire times stay as they were."""
        return self.send(schedule_calls.run_schedule(name))

    # -- sending -------------------------------------------------------------

    def send(self, call: core.Call[T]) -> T:
        """Send `call`, retrying as its `retry` allows, and read its answer."""
        timeout = httpx.Timeout(self.timeout, read=self.timeout + call.hold)
        for attempt in itertools.count():
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    headers=call.headers,
                    params=call.query,
                    content=call.body,
                    timeout=timeout,
                )
            except httpx.TransportError as exc:
                delay = self.policy.delay(call, attempt, error=exc)
                if delay is None:
                    raise core.transport_error(call, exc) from exc
            else:
                answer = core.Answer(response.status_code, response.headers, response.content)
                delay = self.policy.delay(call, attempt, status=answer.status)
                if delay is None:
                    return call.read(answer)
            time.sleep(delay)
        raise AssertionError("unreachable")
