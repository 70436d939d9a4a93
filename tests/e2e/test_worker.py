"""The worker runner end to end: real server, real `accepted worker` processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from accepted.client import AsyncClient, Client, JobStatus
from accepted.worker import Worker
from tests.e2e import worker_jobs
from tests.e2e.workers import (
    PATIENCE,
    StartWorker,
    start_worker,
    wait_for_log,
    wait_until_running,
    wait_until_started,
)
from tests.support.servers import ServerProcess

__all__ = ["start_worker"]  # the fixture, used by name


@pytest.fixture(scope="module")
def server(module_server: ServerProcess) -> ServerProcess:
    """The server of this module's tests and of `start_worker`: one per backend.

    Each test works in queues of its own, so none takes another's jobs. The
    tests that count the server's requests are in test_worker_requests.py,
    each with a server of its own.
    """
    return module_server


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url) as client:
        yield client


def test_a_job_is_run_and_its_return_value_is_the_result(
    client: Client, start_worker: StartWorker
) -> None:
    start_worker("add", "--queue", "add")
    job = client.enqueue("add", {"a": 2, "b": 3})
    done = client.wait(job.id, PATIENCE)
    assert done.status is JobStatus.DONE and done.result == 5 and done.attempts == 1


def test_params_other_than_an_object_are_the_one_argument(
    client: Client, start_worker: StartWorker
) -> None:
    start_worker("echo", "--queue", "echo", "--concurrency", "3")
    jobs = [client.enqueue("echo", value) for value in ([1, 2], "text", None)]
    results = [client.wait(job.id, PATIENCE).result for job in jobs]
    assert results == [{"echo": [1, 2]}, {"echo": "text"}, {"echo": None}]


def test_a_coroutine_function_runs_and_sees_its_job(
    client: Client, start_worker: StartWorker
) -> None:
    start_worker("async_add", "--queue", "aio")
    job = client.enqueue("aio", {"a": 1, "b": 2})
    assert client.wait(job.id, PATIENCE).result == {"sum": 3, "attempt": 1}


def test_an_exception_fails_the_job_with_error_and_traceback(
    client: Client, start_worker: StartWorker
) -> None:
    worker = start_worker("explode", "--queue", "boom")
    job = client.enqueue("boom", {"message": "kaboom"})
    failed = client.wait(job.id, PATIENCE)
    assert failed.status is JobStatus.FAILED and failed.attempts == 1
    assert failed.result["error"] == "ValueError: kaboom"
    assert failed.result["type"] == "ValueError"
    trace = failed.result["traceback"]
    assert "in explode" in trace and "raise ValueError(message)" in trace
    assert "invoke.py" not in trace  # the runner's own frames are left out
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert f"job {job.id} (boom) failed" in worker.log


def test_a_return_value_that_is_not_json_fails_the_job(
    client: Client, start_worker: StartWorker
) -> None:
    start_worker("not_json", "--queue", "odd")
    failed = client.wait(client.enqueue("odd").id, PATIENCE)
    assert failed.status is JobStatus.FAILED
    assert "not JSON" in failed.result["error"]


def test_heartbeats_keep_a_long_job_past_its_lease(
    client: Client, start_worker: StartWorker
) -> None:
    # Lease 1 s, job 3 s: without heartbeats the lease would expire, and with
    # max_attempts=1 the job would fail instead of being retried.
    start_worker("sleep", "--queue", "long", "--lease", "1")
    job = client.enqueue("long", {"seconds": 3}, max_attempts=1)
    done = client.wait(job.id, PATIENCE)
    assert done.status is JobStatus.DONE and done.result == "slept 3"
    assert done.attempts == 1


def test_a_job_of_a_killed_worker_is_run_again_by_another(
    client: Client, start_worker: StartWorker
) -> None:
    first = start_worker("hang_on_first_attempt", "--queue", "fragile", "--lease", "1")
    job = client.enqueue("fragile")
    wait_until_running(client, job.id)
    first.signal(signal.SIGKILL)
    first.wait()
    start_worker("hang_on_first_attempt", "--queue", "fragile", "--lease", "1")
    done = client.wait(job.id, PATIENCE)
    assert done.status is JobStatus.DONE
    assert done.result == {"attempt": 2} and done.attempts == 2


def test_sigterm_lets_running_jobs_finish_within_grace_and_gives_back_the_rest(
    client: Client, start_worker: StartWorker
) -> None:
    worker = start_worker("sleep", "--queue", "s", "--concurrency", "2", "--grace", "3")
    short = client.enqueue("s", {"seconds": 0.5})
    long = client.enqueue("s", {"seconds": 120})
    wait_until_started(worker, short.id)
    wait_until_started(worker, long.id)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert client.get(short.id).status is JobStatus.DONE
    back = client.get(long.id)
    assert back.status is JobStatus.QUEUED and back.attempts == 1
    assert "given back" in worker.log


def test_a_second_signal_gives_jobs_back_at_once(client: Client, start_worker: StartWorker) -> None:
    # Grace 120 s: only the second signal can end this worker within PATIENCE.
    worker = start_worker("sleep", "--queue", "s2", "--grace", "120")
    job = client.enqueue("s2", {"seconds": 120})
    wait_until_started(worker, job.id)
    worker.signal(signal.SIGINT)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert client.get(job.id).status is JobStatus.QUEUED


def test_an_idle_worker_stops_at_once(client: Client, start_worker: StartWorker) -> None:
    worker = start_worker("add", "--queue", "idle", "--poll", "120")
    job = client.enqueue("idle", {"a": 1, "b": 1})
    client.wait(job.id, PATIENCE)  # the worker is up and long-polling again
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert "stopped" in worker.log


def test_a_result_the_server_refuses_with_409_is_dropped_and_logged(
    client: Client, start_worker: StartWorker
) -> None:
    worker = start_worker("sleep", "--queue", "t")
    client.wait(client.enqueue("t", {"seconds": 0}).id, PATIENCE)  # the worker is polling
    # No heartbeat comes within 3 s (lease 30 s): the refusal comes at the report.
    late = client.enqueue("t", {"seconds": 3}, job_timeout=1.5, priority=0)
    after = client.enqueue("t", {"seconds": 0}, priority=3)
    timed_out = client.wait(late.id, PATIENCE)
    assert timed_out.status is JobStatus.FAILED and "timeout" in (timed_out.error or "")
    client.wait(after.id, PATIENCE)  # one slot: `late` has been reported by now
    assert timed_out.attempts == 1
    assert f"job {late.id}: result dropped; the server refused it" in worker.log


# -- a take carrying a report, cut short ---------------------------------------------


def test_a_result_riding_on_a_take_cut_short_by_sigterm_is_logged_at_once_not_dropped(
    client: Client, start_worker: StartWorker
) -> None:
    """One slot: the result rides on the next take, which (nothing else queued)
    blocks until SIGTERM cuts it short. The server applied the result when the
    take arrived; sent again by PUT it is refused (409), which drops nothing."""
    worker = start_worker("echo", "--queue", "slow2", "--concurrency", "1", "--poll", "120")
    job = client.enqueue("slow2", 7)
    done = client.wait(job.id, PATIENCE)
    assert (done.status, done.result) == (JobStatus.DONE, {"echo": 7})
    # Logged as the take carrying it goes, not when that take's 120 s poll ends.
    wait_for_log(worker, f"job {job.id} (slow2) done in")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert "result dropped" not in worker.log
    lines = worker.log.splitlines()
    done_at = [i for i, line in enumerate(lines) if f"job {job.id} (slow2) done in" in line]
    sigterm_at = next(i for i, line in enumerate(lines) if "SIGTERM" in line)
    assert len(done_at) == 1 and done_at[0] < sigterm_at  # once, though sent twice
    assert client.get(job.id).result == {"echo": 7}


def test_a_failure_riding_on_a_take_cut_short_by_sigterm_is_not_dropped(
    client: Client, start_worker: StartWorker
) -> None:
    """The same with a failure to be retried: once applied, the job waits out its
    backoff (no longer running); the PUT sent again is refused, nothing is dropped."""
    worker = start_worker("fail_first_attempts", "--queue", "slow3", "--poll", "120")
    job = client.enqueue("slow3", {"times": 1}, retries=1, retry_backoff=600)
    wait_for_log(worker, f"job {job.id} (slow3) failed in")
    deadline = time.monotonic() + PATIENCE
    while client.get(job.id).status is not JobStatus.DELAYED:  # the failure was applied
        assert time.monotonic() < deadline, client.get(job.id)
        time.sleep(0.05)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert "result dropped" not in worker.log
    assert worker.log.count(f"job {job.id} (slow3) failed in") == 1
    assert "0 retries left: RuntimeError: flaky, attempt 1" in worker.log


def test_a_result_for_a_job_cancelled_while_running_is_still_dropped(
    client: Client, start_worker: StartWorker
) -> None:
    """A genuine refusal of a riding report: the job was cancelled meanwhile."""
    worker = start_worker("sleep", "--queue", "gone", "--concurrency", "1", "--poll", "120")
    job = client.enqueue("gone", {"seconds": 2})
    wait_until_started(worker, job.id)
    client.cancel(job.id)
    wait_for_log(worker, f"job {job.id}: result dropped; the server refused it")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert client.get(job.id).status is JobStatus.CANCELLED


class _SwallowingProxy:
    """A loopback TCP proxy to the server that swallows the first take carrying a
    report, as a connection dying on the way would: the server never reads it whole."""

    def __init__(self, url: str) -> None:
        target = urlsplit(url)
        self.host, self.port = target.hostname or "127.0.0.1", target.port or 80
        self.swallowed = asyncio.Event()
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._handlers: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> _SwallowingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        for writer in self._writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.append(writer)
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._writers.append(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            swallowing = False
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    if up and not self.swallowed.is_set() and b'"report"' in data:
                        swallowing = True
                        self.swallowed.set()
                    if not swallowing:
                        dst.write(data)
                        await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


async def test_a_result_refused_after_its_take_was_cut_short_is_still_dropped(
    server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    """The report never reached the server, and the job was cancelled meanwhile:
    the PUT sent again at shutdown is a genuine refusal, and says so."""
    caplog.set_level(logging.DEBUG, "accepted.worker")
    started, release = asyncio.Event(), asyncio.Event()

    async def hold(**_: Any) -> str:
        started.set()
        await release.wait()
        return "late"

    async with (
        _SwallowingProxy(server.url) as proxy,
        AsyncClient(server.url) as direct,
        AsyncClient(proxy.url, retries=0) as via,
    ):
        worker = Worker(hold, client=via, queues=["cut"], concurrency=1, poll=60)
        running = asyncio.create_task(worker.run())
        job = await direct.enqueue("cut", {})
        await asyncio.wait_for(started.wait(), PATIENCE)
        await direct.cancel(job.id)
        release.set()
        await asyncio.wait_for(proxy.swallowed.wait(), PATIENCE)
        worker.stop()
        await asyncio.wait_for(running, PATIENCE)
        assert (await direct.get(job.id)).status is JobStatus.CANCELLED
    assert f"job {job.id}: result dropped; the server refused it" in caplog.text
    assert "had arrived" not in caplog.text


def test_a_lost_lease_stops_heartbeats_and_drops_the_result(
    client: Client, start_worker: StartWorker
) -> None:
    worker = start_worker("sleep", "--queue", "lost", "--lease", "0.6")
    job = client.enqueue("lost", {"seconds": 1.5})
    wait_until_started(worker, job.id)
    client.delete(job.id)
    client.wait(client.enqueue("lost", {"seconds": 0}).id, PATIENCE)
    assert f"job {job.id}: lease lost" in worker.log
    assert f"job {job.id}: result dropped" in worker.log


def test_a_function_that_cannot_be_loaded_is_a_usage_error(start_worker: StartWorker) -> None:
    worker = start_worker("no_such_function")
    assert worker.wait() == 2
    assert "no_such_function" in worker.log


# -- from Python -------------------------------------------------------------


async def test_the_worker_runs_in_process(server: ServerProcess) -> None:
    async with AsyncClient(server.url) as client:
        worker = Worker(worker_jobs.async_add, client=client, queues=["py"], concurrency=2)
        running = asyncio.create_task(worker.run())
        jobs = [await client.enqueue("py", {"a": n, "b": n}) for n in range(4)]
        results = [(await client.wait(job.id, PATIENCE)).result for job in jobs]
        worker.stop()
        await asyncio.wait_for(running, PATIENCE)
    assert [r["sum"] for r in results] == [0, 2, 4, 6]


async def test_an_unfinished_coroutine_is_cancelled_and_given_back(server: ServerProcess) -> None:
    async with AsyncClient(server.url) as client:
        worker = Worker(worker_jobs.async_sleep, client=client, queues=["py2"], grace=0.2)
        running = asyncio.create_task(worker.run())
        job = await client.enqueue("py2", {"seconds": 120})
        while not worker.running:  # noqa: ASYNC110 - an in-process look, no event to await
            await asyncio.sleep(0.01)
        worker.stop()
        await asyncio.wait_for(running, PATIENCE)
        back = await client.get(job.id)
    assert back.status is JobStatus.QUEUED and back.attempts == 1


# -- retries -------------------------------------------------------------------------


def test_an_exception_lets_the_job_s_retries_run_it_again(
    client: Client, start_worker: StartWorker
) -> None:
    worker = start_worker("fail_first_attempts", "--queue", "flaky")
    job = client.enqueue("flaky", {"times": 2}, retries=3, retry_backoff=0.05)
    done = client.wait(job.id, PATIENCE)
    assert (done.status, done.result, done.retries_left) == (JobStatus.DONE, {"attempt": 3}, 1)
    history = client.attempts(job.id)
    assert [a.outcome for a in history] == ["retried", "retried", "done"]
    assert history[0].result["error"] == "RuntimeError: flaky, attempt 1"
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert "2 retries left" in worker.log


def test_fail_for_good_skips_the_retries(client: Client, start_worker: StartWorker) -> None:
    start_worker("reject", "--queue", "reject")
    job = client.enqueue("reject", {"reason": "no such user"}, retries=5)
    failed = client.wait(job.id, PATIENCE)
    assert (failed.status, failed.attempts, failed.retries_left) == (JobStatus.FAILED, 1, 5)
    assert failed.result["error"] == "FailForGood: no such user"


def test_a_return_value_that_is_not_json_is_not_retried(
    client: Client, start_worker: StartWorker
) -> None:
    start_worker("not_json", "--queue", "odd-retries")
    failed = client.wait(client.enqueue("odd-retries", retries=2).id, PATIENCE)
    assert (failed.status, failed.attempts) == (JobStatus.FAILED, 1)
