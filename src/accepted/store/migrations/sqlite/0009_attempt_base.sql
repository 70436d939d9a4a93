-- attempt_base: hand-outs before the job's last POST /jobs/{id}/retry, so an
-- ended hand-out's history number is attempt_base + attempts, known from the
-- row itself; the history insert no longer looks up the job's last number.
-- Jobs retried before this migration get the base their history implies
-- (its ended rows, less the hand-outs since the retry that have ended).
ALTER TABLE jobs ADD COLUMN attempt_base INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET attempt_base = max(0, (SELECT count(*) FROM job_attempts AS a
        WHERE a.job_id = jobs.id) - attempts + (status = 'running'))
    WHERE EXISTS (SELECT 1 FROM job_attempts AS a WHERE a.job_id = jobs.id);
