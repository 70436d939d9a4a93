-- Schedules (docs/flow.md "Schedules"). `next_run_at` is the fire time the
-- next job is for (NULL while paused); a fire advances it with a conditional
-- UPDATE (WHERE next_run_at = the value read, and revision unchanged) in the
-- same transaction as the job's INSERT, so each fire time makes one job
-- however many nodes try at once: the losers' UPDATE matches no row.
CREATE TABLE accepted_schedules (
    name         text             PRIMARY KEY,
    queue        text             NOT NULL,
    params       bytea            NOT NULL,
    cron         text,
    every        double precision,
    timezone     text             NOT NULL,
    paused       boolean          NOT NULL,
    priority     integer,
    job_timeout  double precision,
    result_ttl   double precision,
    max_attempts integer,
    retries      integer,
    callback_url text,
    created_at   double precision NOT NULL,
    updated_at   double precision NOT NULL,
    next_run_at  double precision,
    last_run_at  double precision,
    last_job_id  text,
    revision     integer          NOT NULL
);

CREATE INDEX accepted_schedules_due ON accepted_schedules (next_run_at)
    WHERE next_run_at IS NOT NULL;

-- The schedule that made a job (NULL: enqueued by a producer).
ALTER TABLE accepted_jobs ADD COLUMN schedule text;
