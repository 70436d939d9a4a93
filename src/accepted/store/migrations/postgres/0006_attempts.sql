-- The attempt history: one row per hand-out that has ended, written in the
-- same transaction as the change that ended it. The running hand-out is the
-- job row itself (started_at), so the claim writes nothing here.
-- Deleting or purging a job deletes its rows.
CREATE TABLE accepted_job_attempts (
    job_id      uuid             NOT NULL REFERENCES accepted_jobs (id) ON DELETE CASCADE,
    attempt     integer          NOT NULL,
    started_at  double precision NOT NULL,
    ended_at    double precision NOT NULL,
    outcome     text             NOT NULL CHECK (outcome IN ('done', 'failed', 'retried',
                    'lease_expired', 'given_back', 'timed_out', 'cancelled')),
    result      bytea            NOT NULL,
    PRIMARY KEY (job_id, attempt)
);
