-- The job table. One row per job; a deleted job is removed, not flagged.
-- Times are float8 seconds since the epoch, exactly as the service computes
-- them; `seq` orders jobs that share priority and due time by insertion.
-- params and result are the client's JSON text, kept byte for byte.
CREATE TABLE accepted_jobs (
    seq                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                  uuid             NOT NULL UNIQUE,
    queue               text             NOT NULL,
    status              text             NOT NULL CHECK (status IN
                            ('delayed', 'queued', 'running', 'done', 'failed', 'cancelled')),
    priority            integer          NOT NULL,
    params              bytea            NOT NULL,
    result              bytea            NOT NULL,
    attempts            integer          NOT NULL,
    max_attempts        integer          NOT NULL,
    created_at          double precision NOT NULL,
    updated_at          double precision NOT NULL,
    due_at              double precision NOT NULL,
    lease               text,
    lease_expires_at    double precision,
    timeout             double precision,
    deadline_at         double precision,
    result_ttl          double precision,
    expires_at          double precision,
    finished_at         double precision,
    error               text,
    callback_url        text,
    callback_state      text CHECK (callback_state IN
                            ('waiting', 'pending', 'delivered', 'gave_up')),
    callback_attempts   integer          NOT NULL,
    callback_next_at    double precision,
    callback_last_error text
);

-- Every index but the two keys is partial: it holds only rows that can still
-- be taken or come due, so millions of finished jobs cost nothing to the
-- claim and the sweeps.
-- Taking a job: best queued job, overall or in one queue.
CREATE INDEX accepted_jobs_queued ON accepted_jobs (priority, due_at, seq)
    WHERE status = 'queued';
CREATE INDEX accepted_jobs_queued_by_queue ON accepted_jobs (queue, priority, due_at, seq)
    WHERE status = 'queued';
-- Background sweeps: each looks only at rows that can come due.
CREATE INDEX accepted_jobs_delayed ON accepted_jobs (due_at)
    WHERE status = 'delayed';
CREATE INDEX accepted_jobs_leases ON accepted_jobs (lease_expires_at)
    WHERE status = 'running';
CREATE INDEX accepted_jobs_deadlines ON accepted_jobs (deadline_at)
    WHERE deadline_at IS NOT NULL AND status IN ('delayed', 'queued', 'running');
CREATE INDEX accepted_jobs_callbacks ON accepted_jobs (callback_next_at)
    WHERE callback_state = 'pending';
CREATE INDEX accepted_jobs_expiry ON accepted_jobs (expires_at)
    WHERE expires_at IS NOT NULL AND callback_state IS DISTINCT FROM 'pending';

-- A queue table is mostly updates: vacuum it long before the default 20 %
-- of dead rows, so the claim's index scans do not wade through dead entries.
ALTER TABLE accepted_jobs SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 1
);
