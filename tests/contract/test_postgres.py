"""What only the shared backend promises: several nodes at once, notices between
them, one clock, and riding out a database that goes away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import asyncpg
import pytest

from accepted.errors import LeaseMismatch, StoreUnavailable
from accepted.queries import PRIORITIES
from accepted.store import postgres_flow as flow
from accepted.store import postgres_queues
from accepted.store import postgres_sql as sql
from accepted.store.migrations import load_migrations
from accepted.store.postgres import PostgresStore
from accepted.types import Due, Job, JobStatus
from tests.contract.builders import NOW, make_job, mark, replace
from tests.support.databases import PG_URL, database, run_sync, skip_without_postgres

skip_without_postgres()
pytestmark = pytest.mark.postgres


Heard = tuple[str, tuple[str, ...]]


class Recorder:
    """A `Wakeups` that writes down what it is told."""

    def __init__(self) -> None:
        self.heard: list[Heard] = []
        self.changed = asyncio.Event()

    def jobs_available(self, queue: str, count: int) -> None:
        self._note(("available", (queue, str(count))))

    def jobs_settled(self, job_ids: Sequence[str]) -> None:
        self._note(("settled", tuple(sorted(job_ids))))

    def resync(self) -> None:
        self._note(("resync", ()))

    def queue_paused(self, queue: str, paused: bool) -> None:
        self._note(("paused" if paused else "resumed", (queue,)))

    def _note(self, what: Heard) -> None:
        self.heard.append(what)
        self.changed.set()

    def notices(self) -> list[Heard]:
        """What was heard, without the periodic resyncs."""
        return [what for what in self.heard if what[0] != "resync"]

    def settled(self) -> list[str]:
        return [i for kind, ids in self.heard if kind == "settled" for i in ids]

    async def hear(self, what: Heard, seconds: float = 2.0) -> None:
        """Wait until `what` has been heard."""
        await self.until(lambda: what in self.heard, seconds)

    async def until(self, done: Callable[[], bool], seconds: float = 2.0) -> None:
        async with asyncio.timeout(seconds):
            while not done():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with database("postgres", tmp_path) as target:
        yield target


@pytest.fixture
async def nodes(url: str) -> AsyncIterator[list[PostgresStore]]:
    """Three stores on one database, as three nodes would hold them."""
    stores = [PostgresStore(url, pool_size=3) for _ in range(3)]
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


async def admin(*statements: str) -> None:
    """Run statements on the maintenance database (about our own test database)."""
    await execute(PG_URL, *statements)


async def execute(url: str, *statements: str) -> None:
    """Run statements on the database at `url`, as another client would."""
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_nodes_starting_at_once_migrate_once(url: str, nodes: list[PostgresStore]) -> None:
    await asyncio.gather(*(store.open() for store in nodes))
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT version FROM accepted_migrations ORDER BY version")
        versions = [r[0] for r in rows]
    finally:
        await conn.close()
    assert sorted(versions) == [number for number, _ in load_migrations("postgres")]
    job = make_job()
    await nodes[0].insert_jobs([job])
    assert await nodes[2].get_job(job.id) == job


async def test_other_nodes_hear_of_takeable_settled_and_deleted_jobs(
    nodes: list[PostgresStore],
) -> None:
    here, there = Recorder(), Recorder()
    writer, listener = nodes[0], nodes[1]
    writer.attach(here)
    listener.attach(there)
    await asyncio.gather(writer.open(), listener.open())

    queued_a = [make_job("a") for _ in range(2)]
    delayed = make_job("a", status=JobStatus.DELAYED, due_at=NOW - 1)
    running, doomed, finished = make_job("b"), make_job("b"), make_job("c", JobStatus.DONE)
    await writer.insert_jobs([*queued_a, delayed, running, doomed, finished])
    await there.hear(("available", ("b", "2")))
    assert ("available", ("a", "2")) in there.heard

    # Claims and changes that stay non-final are not announced; requeues are.
    [claimed] = await writer.claim_jobs(["b"], 1, NOW, ["t"], NOW + 30)
    await writer.update_job(claimed.id, lambda job: replace(job, lease_expires_at=NOW + 60))
    await writer.update_job(
        claimed.id, lambda job: replace(job, status=JobStatus.QUEUED, lease=None)
    )
    await there.hear(("available", ("b", "1")))
    await writer.sweep(Due.DELAYED, NOW, lambda job: replace(job, status=JobStatus.QUEUED), 10)
    await there.hear(("available", ("a", "1")))

    # Final, and deleted while not final, are announced by id; a final job's deletion is not.
    done = await writer.update_job(
        queued_a[0].id, lambda job: replace(job, status=JobStatus.DONE, finished_at=NOW)
    )
    await writer.delete_job(finished.id)
    await writer.delete_job(doomed.id)
    await there.hear(("settled", (doomed.id,)))
    assert there.notices() == [
        ("available", ("a", "2")),
        ("available", ("b", "2")),
        ("available", ("b", "1")),
        ("available", ("a", "1")),
        ("settled", (done.id,)),
        ("settled", (doomed.id,)),
    ]
    assert here.notices() == []  # a node acts on its own changes without notices


async def test_a_batch_announces_each_settled_job(nodes: list[PostgresStore]) -> None:
    there = Recorder()
    nodes[1].attach(there)
    await asyncio.gather(nodes[0].open(), nodes[1].open())
    jobs = [make_job(status=JobStatus.RUNNING, deadline_at=NOW - 1) for _ in range(250)]
    await nodes[0].insert_jobs(jobs)
    failed = await nodes[0].sweep(
        Due.DEADLINE, NOW, lambda job: replace(job, status=JobStatus.FAILED), 1000
    )
    assert len(failed) == 250
    await there.until(lambda: len(there.settled()) >= 250)
    settled = there.settled()
    assert sorted(settled) == sorted(j.id for j in jobs)


async def test_a_reconnected_listener_asks_for_a_resync(
    url: str, nodes: list[PostgresStore]
) -> None:
    there = Recorder()
    nodes[1].attach(there)
    await asyncio.gather(nodes[0].open(), nodes[1].open())
    await admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE application_name = 'accepted/{nodes[1].node}/link'",
    )
    await there.hear(("resync", ()), seconds=5.0)
    job = make_job("after")
    await nodes[0].insert_jobs([job])
    await there.hear(("available", ("after", "1")))


async def test_the_clock_is_the_databases_whatever_the_hosts_say(url: str) -> None:
    skewed = PostgresStore(url, pool_size=1, local_clock=lambda: time.time() + 3600)
    await skewed.open()
    try:
        conn = await asyncpg.connect(url)
        try:
            db_now = await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8")
        finally:
            await conn.close()
        assert abs(skewed.clock() - db_now) < 1.0
    finally:
        await skewed.close()


async def test_an_unreachable_database_is_store_unavailable() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:1/nowhere", pool_size=1)
    with pytest.raises(StoreUnavailable):
        await store.open()
    await store.close()


async def test_a_lost_database_is_503_until_it_returns_then_recovers(
    url: str, nodes: list[PostgresStore]
) -> None:
    store = nodes[0]
    await store.open()
    job = make_job()
    await store.insert_jobs([job])
    name = url.rsplit("/", 1)[1]
    await admin(
        f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
    )
    try:
        for _ in range(3):  # every call, on stale connections and new ones alike
            with pytest.raises(StoreUnavailable):
                await store.get_job(job.id)
            with pytest.raises(StoreUnavailable):
                await store.update_job(job.id, mark)
    finally:
        await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert await store.get_job(job.id) == job
    assert await store.update_job(job.id, mark) == mark(job)


async def test_the_claim_and_sweeps_use_their_partial_indexes(
    url: str, nodes: list[PostgresStore]
) -> None:
    """Millions of finished rows must not slow a claim: no plan may scan the table."""
    store = nodes[0]
    await store.open()
    finished = [make_job(f"q{i % 50}", JobStatus.DONE) for i in range(20_000)]
    for start in range(0, len(finished), 5000):
        await store.insert_jobs(finished[start : start + 5000])
    await store.insert_jobs([make_job("q1"), make_job("q2", JobStatus.DELAYED)])

    queries: list[tuple[str, list[object]]] = [
        (sql.claim_query(None), [NOW, 1, ["t"], NOW + 30]),
        (sql.claim_query(["q1"]), [NOW, 1, ["t"], NOW + 30, "q1"]),
        (sql.claim_query(["q1", "q2"]), [NOW, 1, ["t"], NOW + 30, ["q1", "q2"]]),
    ]
    queries += [(sql.sweep_query(due), [NOW, 100]) for due in Due]
    queries += [(sql.next_due_query(due), []) for due in Due]
    queries += [(postgres_queues.OLDEST, [["q1", "q2"], list(PRIORITIES)])]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ANALYZE accepted_jobs")
        for query, args in queries:
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + query, *args))
            # (the paused queues, a table of a few rows, may well be scanned)
            assert "Seq Scan on accepted_jobs" not in plan, f"{query}\n{plan}"
    finally:
        await conn.close()


async def test_notices_of_writes_made_while_the_link_is_down_follow_when_it_returns(
    url: str, nodes: list[PostgresStore]
) -> None:
    there = Recorder()
    nodes[1].attach(there)
    writer = nodes[0]
    await asyncio.gather(writer.open(), nodes[1].open())
    await admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE application_name = 'accepted/{writer.node}/link'",
    )
    job = make_job("late")
    await writer.insert_jobs([job])  # the pool is unaffected: the write commits at once
    assert await nodes[1].get_job(job.id) == job
    await there.hear(("available", ("late", "1")), seconds=5.0)


async def test_a_rule_that_loses_a_race_is_applied_again_to_the_winner(
    url: str, nodes: list[PostgresStore]
) -> None:
    store = nodes[0]
    await store.open()
    job = make_job()
    await store.insert_jobs([job])
    seen: list[Job] = []

    def decide(current: Job) -> Job:
        seen.append(current)
        if len(seen) == 1:  # another node writes the row between our read and our write
            run_sync(execute(url, f"UPDATE accepted_jobs SET attempts = 7 WHERE id = '{job.id}'"))
        return replace(current, error=f"decided on attempts={current.attempts}")

    result = await store.update_job(job.id, decide)
    assert [j.attempts for j in seen] == [0, 7]
    assert result == replace(job, attempts=7, error="decided on attempts=7")
    assert await store.get_job(job.id) == result


async def test_other_nodes_hear_of_pause_and_resume_and_claims_honour_it(
    nodes: list[PostgresStore],
) -> None:
    here, there = Recorder(), Recorder()
    pauser, other = nodes[0], nodes[1]
    pauser.attach(here)
    other.attach(there)
    await asyncio.gather(pauser.open(), other.open())
    await other.insert_jobs([make_job("x")])
    await pauser.set_paused("x", True, NOW)
    await there.hear(("paused", ("x",)))
    assert await other.claim_jobs(["x"], 1, NOW, ["t"], NOW + 30) == []
    await pauser.set_paused("x", False, NOW)
    await there.hear(("resumed", ("x",)))
    assert len(await other.claim_jobs(["x"], 1, NOW, ["t"], NOW + 30)) == 1
    assert ("paused", ("x",)) not in here.heard  # a node skips its own notices


async def test_counts_stay_exact_under_concurrent_writers_on_several_nodes(
    nodes: list[PostgresStore],
) -> None:
    await asyncio.gather(*(store.open() for store in nodes))

    async def write(store: PostgresStore) -> None:
        for _ in range(20):
            jobs = [make_job("hot") for _ in range(5)]
            await store.insert_jobs(jobs)
            await store.claim_jobs(["hot"], 2, NOW, ["a", "b"], NOW + 30)
            await store.delete_job(jobs[-1].id)

    async def fold() -> None:
        for _ in range(10):
            await nodes[0].fold_counts()
            await asyncio.sleep(0)

    await asyncio.gather(*(write(store) for store in nodes), fold(), nodes[1].fold_counts())
    [state] = await nodes[2].queue_states(["hot"])
    total = sum(state.counts.values())
    assert total == 3 * 20 * 4
    assert state.counts[JobStatus.RUNNING] + state.counts[JobStatus.QUEUED] == total
    await nodes[1].fold_counts()
    assert await nodes[2].queue_states(["hot"]) == [state]


class _DependencyEndsAfterTheRead:
    """A connection on which the dependency is finished by another node right
    after the waiting job's first read of it, before its insert locks it."""

    def __init__(self, conn: asyncpg.Connection, finish: Callable[[], Awaitable[object]]) -> None:
        self.conn, self.finish, self.reads = conn, finish, 0

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        records = await self.conn.fetch(query, *args)
        self.reads += 1
        if self.reads == 1:
            await self.finish()
        return records

    async def fetchval(self, query: str, *args: object) -> object:
        return await self.conn.fetchval(query, *args)


async def test_a_lone_waiting_job_is_shaped_again_when_its_dependency_ends_meanwhile(
    url: str, nodes: list[PostgresStore]
) -> None:
    from tests.contract.test_flow import Recorder as Rules

    other = nodes[1]
    await other.open()
    dependency = make_job()
    await other.insert_jobs([dependency])
    done = replace(dependency, status=JobStatus.DONE, finished_at=NOW, updated_at=NOW)
    conn = await asyncpg.connect(url)
    try:
        racing = _DependencyEndsAfterTheRead(
            conn, lambda: other.update_job(dependency.id, lambda _: done)
        )
        job = await flow.insert_waiting(racing, make_job(after=(dependency.id,)), NOW, Rules())
        assert racing.reads == 2  # the first shape (waiting) was not written
        edges = await conn.fetchval(f"SELECT count(*) FROM {flow.DEPENDENCIES}")
    finally:
        await conn.close()
    assert (job.status, job.waiting, edges) == (JobStatus.QUEUED, 0, 0)
    assert await other.get_job(job.id) == job


async def test_a_report_settles_an_edge_committed_while_it_waited_for_the_row(
    url: str, nodes: list[PostgresStore]
) -> None:
    """A report finishing a dependency whose row another node's enqueue holds
    (adding a waiting job) releases that job too, once the enqueue commits."""
    from tests.contract.test_flow import Recorder as Rules

    store, rules = nodes[0], Rules()
    await store.open()
    store.attach_dependencies(rules)
    dependency = make_job()
    await store.insert_jobs([dependency])
    first = make_job(after=(dependency.id,))
    await store.insert_jobs_checked([first], [None], NOW)  # marked: it has dependents
    second = rules.wait_for(make_job(after=(dependency.id,)), 1, NOW)
    conn = await asyncpg.connect(url)
    try:
        enqueue = conn.transaction()  # the other node's enqueue, held open
        await enqueue.start()
        await conn.fetch(flow.LOCK_DEPENDENCIES, [dependency.id])
        await conn.execute(flow.INSERT_WAITING, *sql.column_values(second), [dependency.id])
        report = asyncio.create_task(
            store.update_job(
                dependency.id,
                lambda j: replace(j, status=JobStatus.DONE, finished_at=NOW, updated_at=NOW),
            )
        )
        while not await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        ):  # the report waits for the row: an observable state, not a guess
            assert not report.done()
            await asyncio.sleep(0.01)
        await enqueue.commit()
        await report
    finally:
        await conn.close()
    for job in (first, second):
        found = await store.get_job(job.id)
        assert found is not None and found.status is JobStatus.QUEUED


async def test_a_report_on_a_job_handed_out_here_decides_on_the_row_as_it_is_now(
    url: str, nodes: list[PostgresStore]
) -> None:
    # The node keeps the rows it handed out, so a report needs no read; a row
    # changed since (by another node) is read again and decided on as it is.
    store = nodes[0]
    await store.open()
    job = make_job()
    await store.insert_jobs([job])
    [taken] = await store.claim_jobs([job.queue], 1, NOW, ["mine"], NOW + 30)
    await execute(url, f"UPDATE accepted_jobs SET lease = 'theirs' WHERE id = '{job.id}'")
    seen: list[str | None] = []

    def decide(current: Job) -> Job:
        seen.append(current.lease)
        if current.lease != "theirs":  # a refusal made on an out-of-date row is not the answer
            raise LeaseMismatch("not the job's lease")
        return replace(current, error="decided on the row as it is")

    result = await store.update_job(job.id, decide)
    assert seen == ["mine", "theirs"]
    assert result == replace(taken, lease="theirs", error="decided on the row as it is")
    assert await store.get_job(job.id) == result


async def test_heartbeats_and_the_report_of_a_job_handed_out_here_write_the_row_once_each(
    nodes: list[PostgresStore],
) -> None:
    store = nodes[0]
    await store.open()
    job = make_job()
    await store.insert_jobs([job])
    [taken] = await store.claim_jobs([job.queue], 1, NOW, ["L"], NOW + 30)
    seen: list[Job] = []

    def extend(current: Job) -> Job:
        seen.append(current)
        return replace(current, lease_expires_at=(current.lease_expires_at or 0) + 30)

    first = await store.update_job(job.id, extend)
    second = await store.update_job(job.id, extend)
    assert seen == [taken, first]  # each decided once, on the row the last write left
    assert second.lease_expires_at == NOW + 90
    assert await store.get_job(job.id) == second


class Spy:
    """A plain LISTEN on the nodes' channel (not a node: no node counts it)."""

    def __init__(self) -> None:
        self.payloads: list[str] = []
        self.heard = asyncio.Event()
        self.conn: asyncpg.Connection | None = None

    async def open(self, url: str) -> None:
        self.conn = await asyncpg.connect(url)
        await self.conn.add_listener(sql.CHANNEL, self._note)

    def _note(self, conn: object, pid: int, channel: str, payload: str) -> None:
        self.payloads.append(payload)
        self.heard.set()

    async def hear(self, payload: str, seconds: float = 2.0) -> None:
        async with asyncio.timeout(seconds):
            while payload not in self.payloads:
                self.heard.clear()
                await self.heard.wait()

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


async def test_a_node_alone_sends_no_notices_and_one_that_joins_hears_it_at_once(
    url: str, nodes: list[PostgresStore]
) -> None:
    alone, joining = nodes[0], nodes[1]
    here, there = Recorder(), Recorder()
    alone.attach(here)
    joining.attach(there)
    await alone.open()
    spy = Spy()
    await spy.open(url)
    try:
        await alone.insert_jobs([make_job("solo")])
        await joining.open()  # returns once the node already there has answered
        # The answer went out on the link after anything sent before it.
        await spy.hear(f"a {alone.node} {joining.node}")
        # Nothing from the node alone: its own notices would only have come back to it.
        assert [p for p in spy.payloads if p.startswith("q ")] == []

        await alone.insert_jobs([make_job("together")])
        await there.hear(("available", ("together", "1")), seconds=2.0)
        assert here.notices() == []  # the writer still acts on its own changes without them
    finally:
        await spy.close()
