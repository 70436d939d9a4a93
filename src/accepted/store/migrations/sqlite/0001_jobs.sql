-- The job table. One row per job; a deleted job is removed, not flagged.
-- `seq` orders jobs that share priority and due time by insertion.
CREATE TABLE jobs (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT    NOT NULL UNIQUE,
    queue               TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    priority            INTEGER NOT NULL,
    params              BLOB    NOT NULL,
    result              BLOB    NOT NULL,
    attempts            INTEGER NOT NULL,
    max_attempts        INTEGER NOT NULL,
    created_at          REAL    NOT NULL,
    updated_at          REAL    NOT NULL,
    due_at              REAL    NOT NULL,
    lease               TEXT,
    lease_expires_at    REAL,
    timeout             REAL,
    deadline_at         REAL,
    result_ttl          REAL,
    expires_at          REAL,
    finished_at         REAL,
    error               TEXT,
    callback_url        TEXT,
    callback_state      TEXT,
    callback_attempts   INTEGER NOT NULL,
    callback_next_at    REAL,
    callback_last_error TEXT
);

-- Taking a job: best queued job, overall or per queue.
CREATE INDEX jobs_queued ON jobs (priority, due_at, seq) WHERE status = 'queued';
CREATE INDEX jobs_queued_by_queue ON jobs (queue, priority, due_at, seq) WHERE status = 'queued';
-- Background sweeps: each looks only at rows that can come due.
CREATE INDEX jobs_delayed ON jobs (due_at) WHERE status = 'delayed';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_deadlines ON jobs (deadline_at)
    WHERE deadline_at IS NOT NULL AND status IN ('delayed', 'queued', 'running');
CREATE INDEX jobs_expiry ON jobs (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX jobs_callbacks ON jobs (callback_next_at) WHERE callback_state = 'pending';
