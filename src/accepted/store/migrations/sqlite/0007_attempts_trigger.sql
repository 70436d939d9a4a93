-- The attempt history loses its foreign key: a trigger on the job table
-- deletes a job's rows with it instead. A foreign key made every history
-- insert look its job up again (the insert comes from the write that just
-- changed that job, so it cannot be missing), about a tenth of the insert's
-- cost on the report path; the trigger costs only deletes and purges.
CREATE TABLE job_attempts_new (
    job_id      TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    started_at  REAL    NOT NULL,
    ended_at    REAL    NOT NULL,
    outcome     TEXT    NOT NULL,
    result      BLOB    NOT NULL,
    PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;
INSERT INTO job_attempts_new SELECT job_id, attempt, started_at, ended_at, outcome, result
    FROM job_attempts;
DROP TABLE job_attempts;
ALTER TABLE job_attempts_new RENAME TO job_attempts;
CREATE TRIGGER job_attempts_gone AFTER DELETE ON jobs BEGIN
    DELETE FROM job_attempts WHERE job_id = OLD.id;
END;
