-- Per-queue limits and fairness groups (SPEC Part 2 "Shaping the flow").
--
-- Limits live on the queue's settings row: NULL means no such limit. A
-- queue with any limit is claimed in a transaction that reads its row, so
-- the check and the hand-out commit together. `rate_log` holds the times of
-- the hand-outs inside the current rate window (a JSON array, oldest first):
-- at most `rate_jobs` of them, so its size is bounded by the limit.
ALTER TABLE queues ADD COLUMN rate_jobs INTEGER;
ALTER TABLE queues ADD COLUMN rate_per REAL;
ALTER TABLE queues ADD COLUMN concurrency INTEGER;
ALTER TABLE queues ADD COLUMN group_concurrency INTEGER;
ALTER TABLE queues ADD COLUMN rate_log TEXT NOT NULL DEFAULT '[]';

-- A job's fairness group, and its place in the rotation between groups:
-- `fair_rank` is a time on the due_at scale (NULL for a job without a group,
-- which is ordered by due_at as before). The claim orders by
-- coalesce(fair_rank, due_at), so a job without a group costs nothing extra.
ALTER TABLE jobs ADD COLUMN fair_group TEXT;
ALTER TABLE jobs ADD COLUMN fair_rank REAL;

DROP INDEX jobs_queued;
DROP INDEX jobs_queued_by_queue;
CREATE INDEX jobs_queued ON jobs (priority, coalesce(fair_rank, due_at), seq)
    WHERE status = 'queued';
CREATE INDEX jobs_queued_by_queue ON jobs (queue, priority, coalesce(fair_rank, due_at), seq)
    WHERE status = 'queued';
-- The longest-waiting grouped job (oldest_queued_age): grouped jobs only.
CREATE INDEX jobs_grouped_due ON jobs (queue, priority, due_at)
    WHERE status = 'queued' AND fair_rank IS NOT NULL;

-- Each group's last rank per queue and priority: a group's next job is ranked
-- after it, or at the queue's current head, whichever is later.
CREATE TABLE fair_groups (
    queue     TEXT    NOT NULL,
    priority  INTEGER NOT NULL,
    name      TEXT    NOT NULL,
    last_rank REAL    NOT NULL,
    PRIMARY KEY (queue, priority, name)
) WITHOUT ROWID;
