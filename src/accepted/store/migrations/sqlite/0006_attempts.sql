-- The attempt history: one row per hand-out that has ended, written in the
-- same transaction as the change that ended it. The running hand-out is the
-- job row itself (started_at), so the claim writes nothing here.
-- Deleting or purging a job deletes its rows (the store turns foreign keys on).
CREATE TABLE job_attempts (
    job_id      TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  REAL    NOT NULL,
    ended_at    REAL    NOT NULL,
    outcome     TEXT    NOT NULL,
    result      BLOB    NOT NULL,
    PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;
