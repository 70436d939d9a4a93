-- Schedules (docs/flow.md "Schedules"). `next_run_at` is the fire time the
-- next job is for (NULL while paused); a fire advances it with a conditional
-- UPDATE (WHERE next_run_at = the value read, and revision unchanged) in the
-- same transaction as the job's INSERT, so each fire time makes one job.
CREATE TABLE schedules (
    name         TEXT    PRIMARY KEY,
    queue        TEXT    NOT NULL,
    params       BLOB    NOT NULL,
    cron         TEXT,
    every        REAL,
    timezone     TEXT    NOT NULL,
    paused       INTEGER NOT NULL,
    priority     INTEGER,
    job_timeout  REAL,
    result_ttl   REAL,
    max_attempts INTEGER,
    retries      INTEGER,
    callback_url TEXT,
    created_at   REAL    NOT NULL,
    updated_at   REAL    NOT NULL,
    next_run_at  REAL,
    last_run_at  REAL,
    last_job_id  TEXT,
    revision     INTEGER NOT NULL
);

CREATE INDEX schedules_due ON schedules (next_run_at) WHERE next_run_at IS NOT NULL;

-- The schedule that made a job (NULL: enqueued by a producer).
ALTER TABLE jobs ADD COLUMN schedule TEXT;
