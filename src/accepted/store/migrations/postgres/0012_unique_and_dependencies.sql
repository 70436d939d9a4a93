-- Unique jobs and dependencies (issue 10).
-- unique_key: at most one job per (queue, key) is not final; the partial
-- unique index enforces it across every node, inside the inserting
-- transaction (INSERT ... ON CONFLICT DO NOTHING, then read the holder).
-- after: the ids a job waits for, joined by commas; waiting: how many of them
-- are not done yet (the job stays delayed while > 0); has_dependents: some
-- job waits on this one, so settling it must release or cancel them. The
-- flag is set under the dependency's row lock, so a report racing with the
-- dependent's insert either sees it or is seen finished by the insert.
ALTER TABLE accepted_jobs
    ADD COLUMN unique_key text,
    ADD COLUMN after text,
    ADD COLUMN waiting integer NOT NULL DEFAULT 0,
    ADD COLUMN has_dependents boolean NOT NULL DEFAULT false;

CREATE UNIQUE INDEX accepted_jobs_unique_key ON accepted_jobs (queue, unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('delayed', 'queued', 'running');

-- One row per (job waited on, waiting job) not settled yet; the rows of a
-- dependency go in the transaction that makes it final or deletes it.
CREATE TABLE accepted_job_dependencies (
    dependency uuid NOT NULL,
    job_id     uuid NOT NULL,
    PRIMARY KEY (dependency, job_id)
);

-- A job waiting on dependencies is delayed but never due by its time alone.
DROP INDEX accepted_jobs_delayed;
CREATE INDEX accepted_jobs_delayed ON accepted_jobs (due_at)
    WHERE status = 'delayed' AND waiting = 0;
