-- attempt_base: hand-outs before the job's last POST /jobs/{id}/retry, so an
-- ended hand-out's history number is attempt_base + attempts, known from the
-- row itself; the history insert no longer looks up the job's last number.
-- Jobs retried before this migration get the base their history implies
-- (its ended rows, less the hand-outs since the retry that have ended).
ALTER TABLE accepted_jobs ADD COLUMN attempt_base integer NOT NULL DEFAULT 0;
UPDATE accepted_jobs AS j SET attempt_base = greatest(0, h.n - j.attempts
        + CASE WHEN j.status = 'running' THEN 1 ELSE 0 END)
    FROM (SELECT job_id, count(*) AS n FROM accepted_job_attempts GROUP BY job_id) AS h
    WHERE h.job_id = j.id;
