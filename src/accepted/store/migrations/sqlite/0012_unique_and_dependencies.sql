-- Unique jobs and dependencies (issue 10).
-- unique_key: at most one job per (queue, key) is not final; the partial
-- unique index enforces it inside the inserting transaction.
-- after: the ids a job waits for, joined by commas; waiting: how many of them
-- are not done yet (the job stays delayed while > 0); has_dependents: some
-- job waits on this one, so settling it must release or cancel them.
ALTER TABLE jobs ADD COLUMN unique_key TEXT;
ALTER TABLE jobs ADD COLUMN after TEXT;
ALTER TABLE jobs ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN has_dependents INTEGER NOT NULL DEFAULT 0;

CREATE UNIQUE INDEX jobs_unique_key ON jobs (queue, unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('delayed', 'queued', 'running');

-- One row per (job waited on, waiting job) not settled yet; the rows of a
-- dependency go in the transaction that makes it final or deletes it.
CREATE TABLE job_dependencies (
    dependency TEXT NOT NULL,
    job_id     TEXT NOT NULL,
    PRIMARY KEY (dependency, job_id)
) WITHOUT ROWID;

-- A job waiting on dependencies is delayed but never due by its time alone.
DROP INDEX jobs_delayed;
CREATE INDEX jobs_delayed ON jobs (due_at) WHERE status = 'delayed' AND waiting = 0;
